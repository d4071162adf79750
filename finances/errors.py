"""Errors of the money flow, all `ApplicationError`s so the API reports them uniformly."""

from core.errors import ApplicationError


class PaymentProviderError(ApplicationError):
    """Stripe did not do what we asked. `retryable` says whether trying again can help."""

    default_code = "payment_provider_error"
    default_message = "The payment provider could not process the request."
    default_status_code = 502
    retryable = False


class PaymentDeclined(PaymentProviderError):
    default_code = "payment_declined"
    default_message = "The payment was declined."
    default_status_code = 402


class PaymentProviderUnavailable(PaymentProviderError):
    default_code = "payment_provider_unavailable"
    default_message = "The payment provider is unavailable. Try again in a moment."
    default_status_code = 503
    retryable = True

    def __init__(self, message: str | None = None, *, retry_after_seconds: int = 30) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_seconds)})


class PaymentProviderMisconfigured(PaymentProviderError):
    default_code = "payment_provider_misconfigured"
    default_message = "Payments are temporarily unavailable."
    default_status_code = 503


class PaymentProviderObjectNotFound(PaymentProviderError):
    default_code = "payment_provider_object_not_found"
    default_message = "The payment provider does not know this object."
    default_status_code = 404


class IdempotencyConflict(PaymentProviderError):
    default_code = "idempotency_conflict"
    default_message = "This request conflicts with an earlier one with the same key."
    default_status_code = 409


class WebhookSignatureInvalid(ApplicationError):
    default_code = "invalid_signature"
    default_message = "The Stripe-Signature header is missing or does not match."
    default_status_code = 400


class WebhookPayloadInvalid(ApplicationError):
    default_code = "malformed_event"
    default_message = "The event body is not a well-formed Stripe event."
    default_status_code = 400


class WebhookPayloadTooLarge(ApplicationError):
    default_code = "payload_too_large"
    default_message = "The event body is larger than this endpoint accepts."
    default_status_code = 413
