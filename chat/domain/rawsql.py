"""Model instances from hand-written SQL, as the ORM builds them from its own queries: a model's
columns, and the converters the ORM applies to each value read (SQLite returns text for datetimes,
for example). For the statements that run on every send (queries.py) and every connect
(connection_reads.py), whose ORM equivalents compile their SQL anew on each call."""

from django.db import connection
from django.db.models import Field, Model


def field_converters(field: Field) -> list:
    """What the ORM applies to a value of this field read from the database."""
    column = field.get_col(field.model._meta.db_table)
    return [
        (converter, column)
        for converter in connection.ops.get_db_converters(column) + column.get_db_converters(connection)
    ]


def convert(value: object, converters: list) -> object:
    for converter, column in converters:
        value = converter(value, column, connection)
    return value


def select_list(model: type[Model], alias: str) -> tuple[str, list[str], list[list]]:
    """`alias.col1, alias.col2, ...` of the model's concrete fields, their attribute names and their
    converters: what `instance` takes back."""
    quote = connection.ops.quote_name
    fields = model._meta.concrete_fields
    columns = ", ".join(f"{alias}.{quote(field.column)}" for field in fields)
    return columns, [field.attname for field in fields], [field_converters(field) for field in fields]


def instance(model: type[Model], names: list[str], converters: list[list], values) -> Model:
    """The model instance of one row's values (in select_list's order), as the ORM loads it."""
    converted = [convert(value, convert_with) for value, convert_with in zip(values, converters, strict=True)]
    return model.from_db(connection.alias, names, converted)


def fetch_one(sql: str, params: list) -> tuple | None:
    """The first row of a statement, or None."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()
