from torchlint.cli import entry

entry()
