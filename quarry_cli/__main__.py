from quarry_cli.main import run

run()
