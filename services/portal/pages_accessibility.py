"""The accessibility statement (déclaration d'accessibilité) that French public bodies must
publish under the RGAA, linked from every page's footer."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.portal.config import PortalSettings
from services.portal.web import Viewer, render

router = APIRouter(include_in_schema=False)

# External addresses the statement must give (RGAA's model statement): the Défenseur des
# droits' online form and its list of regional delegates.
RIGHTS_DEFENDER_FORM = "https://formulaire.defenseurdesdroits.fr/"
RIGHTS_DEFENDER_DELEGATES = "https://www.defenseurdesdroits.fr/saisir/delegues"


@router.get("/accessibilite")
async def accessibility_statement(request: Request, me: Viewer):
    portal: PortalSettings = request.app.state.portal_settings
    return render(
        request,
        "accessibility.html",
        contact=portal.accessibility_contact,
        statement_date=portal.accessibility_statement_date,
        rights_defender_form=RIGHTS_DEFENDER_FORM,
        rights_defender_delegates=RIGHTS_DEFENDER_DELEGATES,
    )
