"""The KMS error vocabulary: one class per AWS error type, named exactly as AWS names it.

    KmsError
    ├── ValidationException, SerializationException, UnknownOperationException      (the request itself)
    ├── AuthError                                                                   (SigV4, before anything else)
    │   ├── MissingAuthenticationTokenException, IncompleteSignatureException
    │   ├── UnrecognizedClientException, InvalidSignatureException
    ├── AccessDeniedException, NotAuthorizedException
    ├── NotFoundException, AlreadyExistsException, DisabledException, KMSInvalidStateException
    ├── InvalidArnException, InvalidAliasNameException, InvalidMarkerException, InvalidKeyUsageException
    ├── IncorrectKeyException, InvalidCiphertextException, KMSInvalidSignatureException, KMSInvalidMacException
    ├── InvalidGrantTokenException, InvalidGrantIdException, MalformedPolicyDocumentException
    ├── InvalidImportTokenException, ExpiredImportTokenException, IncorrectKeyMaterialException
    ├── TagException, LimitExceededException, UnsupportedOperationException, DryRunOperationException
    ├── ThrottlingException                                                         (a request quota: --throttle)
    ├── ConflictException, CustomKeyStoreNotFoundException
    ├── CustomKeyStoreNameInUseException, CustomKeyStoreInvalidStateException, CustomKeyStoreHasCMKsException
    ├── CloudHsmClusterNotFoundException, CloudHsmClusterInUseException, CloudHsmClusterNotRelatedException
    ├── CloudHsmClusterNotActiveException, CloudHsmClusterInvalidConfigurationException, IncorrectTrustAnchorException
    ├── XksProxy*Exception, XksKey*Exception                          (external key stores: ops/extstores.py)
    └── KMSInternalException, KeyUnavailableException, DependencyTimeoutException  (our fault; no detail)

The message is what AWS puts in the body; several AWS errors carry none (docs/aws-semantics.md A.1).
How an error is rendered on a wire (type string, HTTP status, member name) lives in the protocol layer.
"""

from __future__ import annotations

# What one message may hold: it goes to the caller and into the audit record, and may echo what the caller
# sent (a key id, an alias, a policy's resource); a longer one is cut and ends "..." (docs/decisions/0007).
MAX_MESSAGE_CHARS = 4096


class KmsError(Exception):
    """A failure AWS KMS would report to the caller. `message` is safe to send: it never holds a secret, and
    holds at most MAX_MESSAGE_CHARS characters."""

    def __init__(self, message: str = "") -> None:
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 3] + "..."
        super().__init__(message)
        self.message = message

    @property
    def code(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"{self.code}({self.message!r})"


class ValidationException(KmsError):
    pass


class SerializationException(KmsError):
    pass


class UnknownOperationException(KmsError):
    pass


class AuthError(KmsError):
    """The request could not be authenticated; raised before the request is parsed."""


class MissingAuthenticationTokenException(AuthError):
    pass


class IncompleteSignatureException(AuthError):
    pass


class UnrecognizedClientException(AuthError):
    pass


class InvalidSignatureException(AuthError):
    pass


class AccessDeniedException(KmsError):
    """`unseen`: the text reveals nothing of the key (another account's key the caller may not use, or that does
    not exist): a caller that named no key, only a ciphertext, gets it reworded for the ciphertext."""

    def __init__(self, message: str = "", *, unseen: bool = False) -> None:
        super().__init__(message)
        self.unseen = unseen


class NotAuthorizedException(KmsError):
    """Not in the KMS model; AWS answers it for aliases under the reserved alias/aws/ prefix."""


class NotFoundException(KmsError):
    pass


class AlreadyExistsException(KmsError):
    pass


class DisabledException(KmsError):
    pass


class KMSInvalidStateException(KmsError):
    pass


class InvalidArnException(KmsError):
    pass


class InvalidAliasNameException(KmsError):
    pass


class InvalidMarkerException(KmsError):
    pass


class InvalidKeyUsageException(KmsError):
    pass


class IncorrectKeyException(KmsError):
    pass


class InvalidCiphertextException(KmsError):
    pass


class KMSInvalidSignatureException(KmsError):
    pass


class KMSInvalidMacException(KmsError):
    pass


class InvalidGrantTokenException(KmsError):
    pass


class InvalidGrantIdException(KmsError):
    pass


class MalformedPolicyDocumentException(KmsError):
    pass


class InvalidImportTokenException(KmsError):
    pass


class ExpiredImportTokenException(KmsError):
    pass


class IncorrectKeyMaterialException(KmsError):
    pass


class TagException(KmsError):
    pass


class LimitExceededException(KmsError):
    pass


class UnsupportedOperationException(KmsError):
    pass


class DryRunOperationException(KmsError):
    def __init__(self, message: str = "The request would have succeeded, but the DryRun option is set.") -> None:
        super().__init__(message)


class ThrottlingException(KmsError):
    """A request quota was exceeded (docs/throttling.md); not in the KMS model. AWS's text, as KMS sends it:
    {"__type":"ThrottlingException","message":"You have exceeded the rate at which you may call KMS. Reduce the
    frequency of your calls."} (docs/aws-semantics.md A.7)."""

    def __init__(
        self, message: str = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
    ) -> None:
        super().__init__(message)


class ConflictException(KmsError):
    pass


class CustomKeyStoreNotFoundException(KmsError):
    pass


# Custom key stores (kms/keystores.py; the AWS KMS API Reference names each under the operations that raise it).
class CustomKeyStoreNameInUseException(KmsError):
    pass


class CustomKeyStoreInvalidStateException(KmsError):
    pass


class CustomKeyStoreHasCMKsException(KmsError):
    pass


class CloudHsmClusterNotFoundException(KmsError):
    pass


class CloudHsmClusterInUseException(KmsError):
    pass


class CloudHsmClusterNotRelatedException(KmsError):
    pass


class CloudHsmClusterNotActiveException(KmsError):
    pass


class CloudHsmClusterInvalidConfigurationException(KmsError):
    pass


class IncorrectTrustAnchorException(KmsError):
    pass


# External key stores (EXTERNAL_KEY_STORE; the AWS KMS API Reference names each under the operations that raise it).
class XksProxyUriInUseException(KmsError):
    pass


class XksProxyUriEndpointInUseException(KmsError):
    pass


class XksProxyUriUnreachableException(KmsError):
    pass


class XksProxyIncorrectAuthenticationCredentialException(KmsError):
    pass


class XksProxyInvalidResponseException(KmsError):
    pass


class XksProxyInvalidConfigurationException(KmsError):
    pass


class XksProxyVpcEndpointServiceNotFoundException(KmsError):
    pass


class XksKeyNotFoundException(KmsError):
    pass


class XksKeyInvalidConfigurationException(KmsError):
    pass


class XksKeyAlreadyInUseException(KmsError):
    pass


class KMSInternalException(KmsError):
    pass


class KeyUnavailableException(KmsError):
    pass


class DependencyTimeoutException(KmsError):
    pass
