"""A driver offers a carpool, a neighbour books a seat, the driver confirms the trip with
its passenger and distance (what impact counts as passenger-km), all in the portal."""

from __future__ import annotations

from datetime import UTC, datetime


def test_a_driver_offers_a_ride_a_neighbour_books_it_and_the_driver_confirms_it(
    platform, new_page, verified_account, login, shot
):
    from playwright.sync_api import expect

    verified_account("dora@valmont.test", "rue du Faubourg")
    verified_account("pierre@valmont.test", "rue des Vignes")
    today = datetime.now(UTC).date().isoformat()

    driver = new_page()
    login(driver, "dora@valmont.test")
    driver.goto("/carpools/new")
    driver.get_by_label("Départ (quartier)").select_option("faubourg")
    driver.get_by_label("Arrivée (quartier)").select_option("centre")
    driver.get_by_label("Distance du trajet (km)").fill("7,5")
    driver.get_by_label("Places offertes").fill("2")
    driver.get_by_label("Une seule fois", exact=True).check()
    driver.get_by_label("Date (une seule fois)").fill(today)
    driver.get_by_label("Heure de départ").fill("07:30")
    shot(driver, "carpool-new")
    driver.get_by_role("button", name="Proposer ce trajet").click()
    expect(driver.get_by_role("heading", name="Faubourg Nord → Centre-ville")).to_be_visible()

    passenger = new_page()
    login(passenger, "pierre@valmont.test")
    passenger.goto("/carpools")
    passenger.get_by_role("link", name="Faubourg Nord → Centre-ville").first.click()
    shot(passenger, "carpool")
    passenger.get_by_role("button", name="Réserver une place").first.click()
    expect(passenger.get_by_test_id("trip-state")).to_have_text("À venir ou à confirmer")

    driver.goto("/trips")
    expect(driver.get_by_test_id("my-trips")).to_contain_text("à confirmer")
    driver.get_by_test_id("my-trips").get_by_role("link").first.click()
    expect(driver.get_by_label("Pierre", exact=False)).to_be_checked()
    driver.get_by_label("Distance du trajet (km)").fill("8")
    shot(driver, "trip-confirm")
    driver.get_by_role("button", name="Confirmer le trajet").click()
    expect(driver.get_by_test_id("trip-state")).to_have_text("Effectué")
    expect(driver.get_by_text("8,0 km avec 1 passager(s)")).to_be_visible()
