"""Adapters: every call to AWS (boto3) and to outside libraries with I/O lives here."""
