"""Enclave: the code of one regional deployment (packaged into the Lambda function)."""
