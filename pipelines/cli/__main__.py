from pipelines.cli import console

console()
