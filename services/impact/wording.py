"""The words of the printed report, in French and English: indicator labels, headings, periods.

Kept beside the renderer (the impact service renders the report itself, so the portal's
i18n catalogue is out of reach). Every indicator key has a label in both languages: a test
checks it, so a new indicator cannot reach the report as a raw key.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
_LOCALES = {"fr": "fr_FR", "en": "en_GB"}

FAMILIES: dict[str, tuple[str, str]] = {
    "participation": ("Participation", "Participation"),
    "exchange": ("Échanges", "Exchange"),
    "money": ("Argent", "Money"),
    "environment": ("Environnement", "Environment"),
    "delivery": ("Réalisations", "Delivery"),
}

# (French, English) per indicator key.
INDICATOR_LABELS: dict[str, tuple[str, str]] = {
    "participation.active_members": ("Membres actifs", "Active members"),
    "participation.share_of_residents": ("Part des habitants", "Share of residents"),
    "participation.new_members": ("Nouveaux membres", "New members"),
    "participation.member_profiles": ("Membres par profil", "Members by profile"),
    "participation.pb_turnout": (
        "Participation au vote du budget participatif",
        "Participatory budget turnout",
    ),
    "participation.pb_proposals": (
        "Propositions au budget participatif",
        "Participatory budget proposals",
    ),
    "participation.pb_supports": ("Soutiens aux propositions", "Supports for proposals"),
    "participation.contributions": ("Contributions en ligne", "Online contributions"),
    "exchange.loans_by_category": ("Prêts rendus", "Loans returned"),
    "exchange.days_lent": ("Jours de prêt", "Days lent"),
    "exchange.services_by_kind": ("Services rendus", "Services done"),
    "exchange.time_credit_minutes": ("Temps échangé (minutes)", "Time exchanged (minutes)"),
    "exchange.carpool_passenger_km": ("Covoiturage (passagers-km)", "Carpooling (passenger-km)"),
    "exchange.median_request_to_match": (
        "Délai médian demande – acceptation",
        "Median time from request to match",
    ),
    "exchange.share_of_requests_met": (
        "Part des demandes de prêt satisfaites",
        "Share of loan requests met",
    ),
    "exchange.idle_items": ("Objets jamais prêtés", "Items never lent"),
    "money.raised": ("Collecté par les campagnes réussies", "Raised by successful campaigns"),
    "money.matched": ("Abondement de la ville", "City matchfunding"),
    "money.commission": ("Commission de la plateforme", "Platform commission"),
    "money.campaigns_succeeded": ("Campagnes réussies", "Successful campaigns"),
    "money.campaign_success_rate": ("Taux de réussite des campagnes", "Campaign success rate"),
    "money.backers_by_neighbourhood": ("Contributeurs par quartier", "Backers by neighbourhood"),
    "money.saved_by_borrowers": ("Économies des emprunteurs", "Money saved by borrowers"),
    "money.pb_envelope_allocated": ("Enveloppe attribuée", "Envelope allocated"),
    "money.pb_envelope_leftover": ("Reliquat de l'enveloppe", "Envelope left over"),
    "money.pb_delivered": ("Projets réalisés (montant)", "Projects delivered (amount)"),
    "environment.co2e_avoided_by_loans": ("CO2e évité par les prêts", "CO2e avoided by loans"),
    "environment.co2e_avoided_by_carpool": (
        "CO2e évité par le covoiturage",
        "CO2e avoided by carpooling",
    ),
    "environment.co2e_avoided_by_repairs": (
        "CO2e évité par les réparations",
        "CO2e avoided by repairs",
    ),
    "environment.co2e_avoided": ("CO2e évité (total)", "CO2e avoided (total)"),
    "environment.waste_avoided": ("Déchets évités", "Waste avoided"),
    "environment.energy_produced": (
        "Électricité produite par les installations citoyennes",
        "Electricity produced by citizen installations",
    ),
    "environment.co2e_avoided_by_energy": (
        "CO2e évité par l'électricité produite localement",
        "CO2e avoided by locally produced electricity",
    ),
    "delivery.pb_projects_selected": ("Projets retenus", "Projects selected"),
    "delivery.pb_projects_delivered": ("Projets réalisés", "Projects delivered"),
    "delivery.pb_delivery_rate": ("Taux de réalisation", "Delivery rate"),
}

UNITS: dict[str, tuple[str, str]] = {
    "people": ("personnes", "people"),
    "proposals": ("propositions", "proposals"),
    "supports": ("soutiens", "supports"),
    "contributions": ("contributions", "contributions"),
    "loans": ("prêts", "loans"),
    "days": ("jours", "days"),
    "services": ("services", "services"),
    "minutes": ("minutes", "minutes"),
    "passenger-km": ("passagers-km", "passenger-km"),
    "hours": ("heures", "hours"),
    "items": ("objets", "items"),
    "campaigns": ("campagnes", "campaigns"),
    "projects": ("projets", "projects"),
    "kgCO2e": ("kg CO2e", "kg CO2e"),
    "kg": ("kg", "kg"),
    "kWh": ("kWh", "kWh"),
}

# Headings and sentences of the page, by name.
TEXT: dict[str, tuple[str, str]] = {
    "title": ("Rapport d'impact", "Impact report"),
    "territory": ("Territoire", "Territory"),
    "population": ("population", "population"),
    "period": ("Période", "Period"),
    "catalogue": ("Catalogue de facteurs", "Factor catalogue"),
    "suppression": (
        "Les cases de moins de {k} contributeurs sont masquées.",
        "Cells with fewer than {k} contributors are suppressed.",
    ),
    "ranges": (
        "Les estimations sont des fourchettes : valeur centrale, puis basse – haute.",
        "Estimates are ranges: central value, then low – high.",
    ),
    "projection": (
        "Projection : {facts} faits, {parked} événements en attente.",
        "Projection: {facts} facts, {parked} parked events.",
    ),
    "indicators": ("Indicateurs", "Indicators"),
    "per_neighbourhood": ("Par quartier", "Per neighbourhood"),
    "monthly": ("Mois par mois", "Month by month"),
    "editions": ("Éditions du budget participatif", "Participatory budget editions"),
    "methodology": (
        "Annexe méthodologique : chaque facteur et sa source",
        "Methodology appendix: every factor and its source",
    ),
    "methodology_lead": (
        "Chaque estimation multiplie des comptes d'événements de la plateforme par ces "
        "facteurs, évalués trois fois (tous bas, tous centraux, tous hauts).",
        "Each estimate multiplies counts of platform events by these factors, evaluated "
        "three times (all low, all central, all high factors).",
    ),
    "suppressed": (
        "masqué (moins de {k} contributeurs)",
        "suppressed (fewer than {k} contributors)",
    ),
    "suppressed_short": ("masqué", "suppressed"),
    "not_applicable": ("sans objet", "not applicable"),
    "range": ("fourchette", "range"),
    "no_data": ("Aucune donnée pour cette période.", "No data for this period."),
    "chart_table": ("Données du graphique", "Chart data"),
    "yes": ("oui", "yes"),
    "no": ("non", "no"),
    # table headers
    "h.family": ("Famille", "Family"),
    "h.indicator": ("Indicateur", "Indicator"),
    "h.value": ("Valeur", "Value"),
    "h.neighbourhood": ("Quartier", "Neighbourhood"),
    "h.population": ("Population", "Population"),
    "h.active": ("Membres actifs", "Active members"),
    "h.share": ("Part des habitants", "Share of residents"),
    "h.loans": ("Prêts", "Loans"),
    "h.co2e_loans": ("CO2e évité par les prêts (kg)", "CO2e avoided by loans (kg)"),
    "h.services": ("Services", "Services"),
    "h.raised": ("Collecté", "Money raised"),
    "h.month": ("Mois", "Month"),
    "h.co2e": ("CO2e évité (kg, central)", "CO2e avoided (kg, central)"),
    "h.edition": ("Édition", "Edition"),
    "h.proposals": ("Propositions", "Proposals"),
    "h.supports": ("Soutiens", "Supports"),
    "h.voters": ("Votants", "Voters"),
    "h.eligible": ("Inscrits", "Eligible"),
    "h.turnout": ("Participation", "Turnout"),
    "h.allocated": ("Attribué", "Allocated"),
    "h.leftover": ("Reliquat", "Left over"),
    "h.selected": ("Retenus", "Selected"),
    "h.delivered": ("Réalisés", "Delivered"),
    "h.factor": ("Facteur", "Factor"),
    "h.central": ("Central", "Central"),
    "h.low": ("Bas", "Low"),
    "h.high": ("Haut", "High"),
    "h.unit": ("Unité", "Unit"),
    "h.scope": ("Périmètre", "Scope"),
    "h.datasets": ("Jeu de données, éditeur, licence, adresse", "Dataset, publisher, licence, URL"),
    "h.proxy": ("Valeur approchée", "Proxy"),
    # charts
    "c.loans_nbhd": ("Prêts par quartier", "Loans per neighbourhood"),
    "c.co2e_nbhd": (
        "CO2e évité par les prêts, par quartier (central)",
        "CO2e avoided by loans per neighbourhood (central)",
    ),
    "c.loans_month": ("Prêts par mois", "Loans per month"),
    "c.co2e_month": ("CO2e évité par mois (central)", "CO2e avoided per month (central)"),
    "c.money_month": ("Collecté par mois", "Money raised per month"),
    # periods
    "p.all": ("depuis le début", "since the start"),
    "p.year": ("année {year}", "year {year}"),
    "p.week": ("semaine {week} de {year}", "week {week} of {year}"),
    "p.edition": ("édition {name}", "edition {name}"),
    "p.span": ("du {start} au {end}", "from {start} to {end}"),
}


def language_of(requested: str | None, accept_language: str | None = None) -> str:
    """`requested` when it is a known language, else the first known one of an
    Accept-Language header (quality order), else French (the city's language)."""
    if requested in LANGUAGES:
        return requested  # type: ignore[return-value]
    choices: list[tuple[float, str]] = []
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            choices.append((quality, primary))
    choices.sort(key=lambda c: -c[0])  # stable: equal qualities keep the header's order
    return choices[0][1] if choices else DEFAULT_LANGUAGE


class Words:
    """The report's words and number formats in one language."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
        self.locale = _LOCALES[self.lang]
        self._i = LANGUAGES.index(self.lang)

    def __call__(self, text_name: str, /, **values: Any) -> str:
        return TEXT[text_name][self._i].format(**values)

    def indicator(self, key: str) -> str:
        pair = INDICATOR_LABELS.get(key)
        return pair[self._i] if pair else key.rsplit(".", 1)[-1].replace("_", " ")

    def family(self, family: str) -> str:
        pair = FAMILIES.get(family)
        return pair[self._i] if pair else family

    def unit(self, unit: str) -> str:
        pair = UNITS.get(unit)
        return pair[self._i] if pair else unit

    def number(self, value: Any, digits: int = 2) -> str:
        if value is None:
            return "—"
        return format_decimal(value, format=f"#,##0.{'#' * digits}", locale=self.locale)

    def percent(self, value: Any) -> str:
        """`value` in percent (12.5 -> "12,5 %")."""
        return format_percent(float(value) / 100, format="#,##0.#\u00a0%", locale=self.locale)

    def euros(self, cents: int | None) -> str:
        if cents is None:
            return "—"
        amount = format_decimal(cents / 100, format="#,##0.00", locale=self.locale)
        return f"{amount}\u00a0€"

    def day(self, day: date) -> str:
        return format_date(day, format="long", locale=self.locale)

    def month(self, label: str) -> str:
        """'2026-03' -> 'mars 2026' / 'March 2026'."""
        year, month = (int(p) for p in label.split("-")[:2])
        return format_date(date(year, month, 1), format="LLLL y", locale=self.locale)

    def period(self, period: dict[str, Any], edition_names: dict[str, str] | None = None) -> str:
        """A window as a reader says it: 'année 2026', 'mars 2026', 'depuis le début'."""
        kind, label = period.get("kind"), str(period.get("label", ""))
        if kind == "all" or label == "all":
            return self("p.all")
        if kind == "edition":
            edition = period.get("edition") or label.removeprefix("edition:")
            return self("p.edition", name=(edition_names or {}).get(edition, edition))
        if kind == "year":
            return self("p.year", year=label)
        if kind == "month":
            return self.month(label)
        if kind == "week":
            year, _, week = label.partition("-W")
            return self("p.week", week=int(week), year=year)
        start, end = date.fromisoformat(period["from"]), date.fromisoformat(period["to"])
        if start == end:
            return self.day(start)
        return self("p.span", start=self.day(start), end=self.day(end))
