"""The XKS proxy API front (aws/aws-kms-xksproxy-api-spec): codec, errors, front."""
