"""Deployment resources: one definition of the tables, keys, bucket and pools, rendered to CloudFormation
for AWS and created in the emulator by the local platform and the tests."""
