"""POST /api/v1/auth/register, /auth/token, /auth/logout and /auth/logout-all."""

from uuid import UUID

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.fields import get_error_detail
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from ecommerce.accounts import services
from ecommerce.accounts.api.authentication import TokenAuthentication
from ecommerce.accounts.models import User
from ecommerce.common.fields import DeliverableEmailField
from ecommerce.common.openapi import raises
from ecommerce.common.parsers import KnownFieldsOnly, no_body

# What the password validators of settings.AUTH_PASSWORD_VALIDATORS answer, for the schema.
PASSWORD_CODES = (
    "password_too_similar",
    "password_too_short",
    "password_too_common",
    "password_entirely_numeric",
)


class RegisterView(APIView):
    authentication_classes = ()
    permission_classes = ()
    # Counted with sign-in attempts: each answer tells whether an email has an account, and
    # each new account costs a password hash.
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "auth"

    class RegisterInputSerializer(KnownFieldsOnly):
        email = DeliverableEmailField(max_length=254)
        password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)

        def validate(self, attrs: dict[str, str]) -> dict[str, str]:
            # Password validators compare against the email, so run them with it at hand; the
            # Django ValidationError keeps one code per problem (password_too_short, ...).
            try:
                validate_password(attrs["password"], user=User(email=attrs["email"]))
            except DjangoValidationError as exc:
                raise serializers.ValidationError({"password": get_error_detail(exc)}) from exc
            return attrs

    class RegisterOutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        email = serializers.EmailField()

    @extend_schema(
        request=RegisterInputSerializer,
        responses={201: RegisterOutputSerializer},
        operation_id="auth_register",
    )
    @raises(fields={"email": [services.EmailTaken], "password": PASSWORD_CODES})
    def post(self, request: Request) -> Response:
        data = self.RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        return Response(self.RegisterOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    authentication_classes = ()
    permission_classes = ()
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "auth"

    class TokenInputSerializer(KnownFieldsOnly):
        email = serializers.CharField(max_length=254)
        password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)

    class TokenOutputSerializer(serializers.Serializer):
        token = serializers.CharField(help_text="Send it as Authorization: Token <token>.")
        expiry = serializers.DateTimeField(
            help_text="When the token stops working unless used before; each use renews it."
        )

    @extend_schema(
        request=TokenInputSerializer,
        responses={200: TokenOutputSerializer},
        operation_id="auth_token",
    )
    @raises(services.InvalidCredentials)
    def post(self, request: Request) -> Response:
        data = self.TokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = services.token_obtain(**data.validated_data)
        return Response(self.TokenOutputSerializer(token).data)


class LogoutView(APIView):
    """Revoke the token this request is signed in with (this device only)."""

    authentication_classes = (TokenAuthentication,)
    permission_classes = (IsAuthenticated,)

    @extend_schema(request=None, responses={204: None}, operation_id="auth_logout")
    def post(self, request: Request) -> Response:
        no_body(request)
        token = request.auth
        assert isinstance(token, AuthToken)  # the only authentication this view takes
        services.token_revoke(digest=token.digest)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutAllView(APIView):
    """Revoke every API token of the signed-in user (every device)."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(request=None, responses={204: None}, operation_id="auth_logout_all")
    def post(self, request: Request) -> Response:
        no_body(request)
        user_id = request.user.pk
        assert isinstance(user_id, UUID)  # IsAuthenticated let only signed-in users through
        services.tokens_revoke_all(user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
