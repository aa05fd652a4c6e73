"""Admin permissions for the "Merchants" group, granted from data migrations.

Permissions are normally created by post_migrate, after every migration has run; on a fresh database
they do not exist yet when these migrations run, so they are created here, the way Django names them.
Migrations pass their historical `apps`; nothing here imports models.
"""

MERCHANTS = "Merchants"

# {(app_label, model_name): actions}, e.g. {("stores", "store"): ("view", "add", "change", "delete")}
Permissions = dict[tuple[str, str], tuple[str, ...]]


def grant(apps, schema_editor, permissions: Permissions, group_name: str = MERCHANTS) -> None:
    db = schema_editor.connection.alias
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.using(db).get_or_create(name=group_name)
    for (app_label, model_name), actions in permissions.items():
        verbose_name = apps.get_model(app_label, model_name)._meta.verbose_name
        content_type, _ = ContentType.objects.using(db).get_or_create(app_label=app_label, model=model_name)
        for action in actions:
            permission, _ = Permission.objects.using(db).get_or_create(
                content_type=content_type,
                codename=f"{action}_{model_name}",
                defaults={"name": f"Can {action} {verbose_name}"},
            )
            group.permissions.add(permission)


def revoke(apps, schema_editor, permissions: Permissions, group_name: str = MERCHANTS) -> None:
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group = Group.objects.using(schema_editor.connection.alias).filter(name=group_name).first()
    if group is None:
        return
    for (app_label, model_name), actions in permissions.items():
        codenames = [f"{action}_{model_name}" for action in actions]
        group.permissions.remove(*Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
