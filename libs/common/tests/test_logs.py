import json
import logging

from fastapi.testclient import TestClient

from libs.common.logs import bound_context, configure_logging, get_logger


def test_json_lines_carry_the_bound_event_id(capsys):
    configure_logging(json=True, level="INFO")
    with bound_context(event_id="evt-1", request_id="req-9"):
        get_logger("test").info("applied", consumer="impact")
        logging.getLogger("stdlib").warning("from the standard library")
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert [line["event_id"] for line in lines] == ["evt-1", "evt-1"]
    assert lines[0]["request_id"] == "req-9"
    assert lines[0]["event"] == "applied" and lines[0]["consumer"] == "impact"
    configure_logging(json=False, level="WARNING")


def test_request_id_is_echoed_and_logged(settings_factory, capsys):
    from services.exchange.app import create_app

    app = create_app(settings_factory(log_json=True, log_level="INFO"))

    @app.get("/log-something")
    def log_something():
        get_logger("api").info("handling")
        return {}

    client = TestClient(app)
    response = client.get("/log-something", headers={"X-Request-ID": "abc123"})
    assert response.headers["x-request-id"] == "abc123"
    err = capsys.readouterr().err
    handled = [json.loads(line) for line in err.splitlines() if '"handling"' in line]
    assert handled and handled[0]["request_id"] == "abc123"
    configure_logging(json=False, level="WARNING")


def test_lines_logged_while_a_consumer_applies_an_event_carry_its_id(capsys):
    from libs.common.logs import current_event

    configure_logging(json=True, level="INFO")
    token = current_event.set(("evt-42", "exchange.loan.returned"))
    try:
        get_logger("handler").info("projected")
    finally:
        current_event.reset(token)
    get_logger("handler").info("outside")
    first, second = (json.loads(x) for x in capsys.readouterr().err.strip().splitlines())
    assert first["event_id"] == "evt-42" and first["event_type"] == "exchange.loan.returned"
    assert "event_id" not in second
    configure_logging(json=False, level="WARNING")
