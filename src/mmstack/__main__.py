from mmstack.cli.main import app

app(prog_name="mmstack")
