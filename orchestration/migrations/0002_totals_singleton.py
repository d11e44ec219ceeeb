from django.db import migrations


def create_totals(apps, schema_editor):
    Totals = apps.get_model("orchestration", "Totals")
    Totals.objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("orchestration", "0001_initial")]

    operations = [migrations.RunPython(create_totals, migrations.RunPython.noop)]
