"""Admin actions that move money or replay events need an explicit permission.

Django hides an action the user may not run (`@admin.action(permissions=[...])` and the
`has_<name>_permission` methods), but answers a forged POST of it with a redirect and a
"no action selected" message. Here such a POST is a 403, each action checks again before it
acts, and the service it calls checks a third time with the acting user.
"""

from django.core.exceptions import PermissionDenied


class ActionPermissionsMixin:
    def changelist_view(self, request, extra_context=None):
        if request.method == "POST":
            name = request.POST.get("action")
            known = {action_name for _, action_name, _ in self._get_base_actions()}
            if name in known and name not in self.get_actions(request):
                raise PermissionDenied
        return super().changelist_view(request, extra_context)

    @staticmethod
    def permission_require(request, permission: str) -> None:
        if not request.user.has_perm(permission):
            raise PermissionDenied
