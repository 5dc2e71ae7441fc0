"""Who may change what through the API: staff holding the Django permission the admin asks
for the same change. Being staff lets one into the admin, not change everything there, and
the API is no side door: a support agent who may only read orders cannot reprice a product
here either."""

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request


class StaffPermissions(permissions.BasePermission):
    """Staff with the permission the view names for the request's method, in
    ``staff_permissions`` (e.g. ``{"PATCH": "products.change_product"}``). Methods it does not
    name are left to the view's other permission classes."""

    message = "You do not have permission to perform this action."

    def has_permission(self, request: Request, view: Any) -> bool:
        needed: str | None = view.staff_permissions.get(request.method)
        if needed is None:
            return True
        user = request.user
        if user and user.is_staff and user.has_perm(needed):
            return True
        if user and user.is_staff:
            self.message = f"This needs the {needed} permission."
        return False
