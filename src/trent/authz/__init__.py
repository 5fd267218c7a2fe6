"""Who may do what to a KMS key: key policies, IAM identity policies and grants, decided as AWS KMS does.

Pure functions over values, no I/O. Layer: imports only the stdlib and trent.kms; trent.ops loads the inputs
(policies, grants, request facts) and calls evaluate.authorize.
"""
