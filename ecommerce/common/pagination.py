"""Lists are paginated by ``?page=`` and ``?page_size=`` (at most 100)."""

import re
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import pagination, serializers
from rest_framework.exceptions import NotFound, ValidationError

# A page or a page size: ASCII digits, at most 9 of them (int() of thousands of digits would
# be refused with a ValueError, a 500; Django's paginator reads other scripts' digits).
_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")

PAGE_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, description="Page number, from 1."),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="Results per page (at most 100)."),
]


class PageNumberPagination(pagination.PageNumberPagination):
    """DRF's, except that a ``page_size`` that is not a whole number from 1 up is 400
    ``invalid`` (DRF answers 20 results as if it had not been sent). More than 100 is 100."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Any) -> int | None:
        given = request.query_params.get(self.page_size_query_param)
        if given is not None and not (_WHOLE_NUMBER.fullmatch(given) and int(given) > 0):
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        f"A whole number of results per page, 1 to {self.max_page_size}."
                    ]
                },
                code="invalid",
            )
        return super().get_page_size(request)

    def get_page_number(self, request: Any, paginator: Any) -> Any:
        """A page is a whole number in ASCII digits (or ``last``); Django's paginator reads
        ``int()``'s way, so ``?page=\u0662`` (an Arabic-Indic two) was page 2. Else 404, as
        DRF answers a page that does not exist."""
        number = super().get_page_number(request, paginator)
        if number not in self.last_page_strings and not _WHOLE_NUMBER.fullmatch(str(number)):
            raise NotFound(
                self.invalid_page_message.format(
                    page_number=number, message="That page number is not a whole number."
                )
            )
        return number


def page_of(item: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """The serializer of one page of ``item``s, as ``PageNumberPagination`` answers it, named
    ``name`` in the schema: ``count``, ``next``, ``previous`` and the ``results``."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )
