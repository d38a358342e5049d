import logging

from dlcli.console import add_log_file, setup_logging


def test_quiet_console_stays_quiet_when_a_log_file_records_info(tmp_path, capsys):
    setup_logging(-1)
    handler = add_log_file(tmp_path / "run.log")
    try:
        logging.getLogger("dlcli.test").info("progress note")
        logging.getLogger("dlcli.test").warning("a warning")
    finally:
        logging.getLogger("dlcli").removeHandler(handler)
        handler.close()
        setup_logging(0)
    text = (tmp_path / "run.log").read_text()
    assert "progress note" in text and "a warning" in text
    errors = capsys.readouterr().err
    assert "a warning" in errors and "progress note" not in errors
