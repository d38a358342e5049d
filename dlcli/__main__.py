from dlcli.cli import app

app(prog_name="dlcli")
