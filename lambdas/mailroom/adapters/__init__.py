"""Adapters: the ports implemented on AWS services; the only code that sees ``ClientError``."""
