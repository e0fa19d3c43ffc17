"""The domain: rules and data of Enclave, free of I/O (imports neither boto3 nor chalice)."""
