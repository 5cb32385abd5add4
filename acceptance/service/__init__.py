"""The service: accounts, opportunities, submissions and runs kept in PostgreSQL.

Models, database and migrations, decisions and their statements, notifications,
events and forge feedback, artifacts and secrets. It calls the engine
(``acceptance.engine``) to judge; ``web`` and ``workers`` call it.
"""
