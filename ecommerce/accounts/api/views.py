"""POST /api/v1/auth/register and POST /api/v1/auth/token."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.fields import get_error_detail
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from ecommerce.accounts import services
from ecommerce.accounts.models import User


class RegisterView(APIView):
    authentication_classes = ()
    permission_classes = ()
    # Counted with sign-in attempts: each answer tells whether an email has an account, and
    # each new account costs a password hash.
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "auth"

    class RegisterInputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
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

    class TokenInputSerializer(serializers.Serializer):
        email = serializers.CharField(max_length=254)
        password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)

    class TokenOutputSerializer(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(
        request=TokenInputSerializer,
        responses={200: TokenOutputSerializer},
        operation_id="auth_token",
    )
    def post(self, request: Request) -> Response:
        data = self.TokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token = services.token_obtain(**data.validated_data)
        return Response(self.TokenOutputSerializer(token).data)
