"""What a Stripe.js checkout page needs before it can pay: a SetupIntent."""

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.client_ip import client_network_from_request
from core.openapi import errors
from core.rate_limit import rate_limit_consume
from finances.api.serializers import SetupIntentOutputSerializer
from finances.services.checkout_setup import checkout_setup_intent_create


class CheckoutSetupIntentView(APIView):
    """A SetupIntent client secret: `stripe.confirmCardSetup(client_secret, {payment_method:
    {card: cardElement}})` turns the card into a PaymentMethod, whose id goes to
    `POST /api/finances/purchase/initiate/` as `payment_method_id`. Works with real
    Stripe.js and with localstripe's stand-in."""

    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="checkout_setup_intent",
        summary="A SetupIntent for the card a checkout page collects",
        request=None,
        responses={
            201: SetupIntentOutputSerializer,
            **errors(
                401,
                429,
                500,
                http_502="Stripe rejected the request (`payment_provider_rejected`).",
                http_503="Stripe unavailable (`payment_provider_unavailable`).",
            ),
        },
    )
    def post(self, request: Request) -> Response:
        rate_limit_consume(
            scope="checkout_setup_ip", identifier=client_network_from_request(request)
        )
        setup = checkout_setup_intent_create(request_id=uuid.uuid4())
        return Response(
            SetupIntentOutputSerializer({"client_secret": setup.client_secret}).data,
            status=status.HTTP_201_CREATED,
        )
