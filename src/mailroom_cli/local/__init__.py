"""Local mode: the pieces that stand in for AWS services moto does not emulate (SES receiving)."""
