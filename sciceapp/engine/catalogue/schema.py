"""The catalogue's schema: its ordered migrations (``db.migrate`` runs them, one
transaction per step, each a tuple of single SQL statements: nothing splits scripts)."""

from __future__ import annotations

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: collections, the paths added to them, and their photos
    (
        """CREATE TABLE collections (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            model_path TEXT NOT NULL,
            model_sha256 TEXT NOT NULL,
            model_label TEXT NOT NULL,
            model_random_init INTEGER NOT NULL,
            descriptor_dim INTEGER NOT NULL,
            index_kind TEXT NOT NULL,
            created TEXT NOT NULL,
            saved_gen INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE roots (
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            PRIMARY KEY (collection_id, path)
        )""",
        """CREATE TABLE photos (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            path TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            sha256 TEXT,
            lat REAL,
            lon REAL,
            alt REAL,
            gps_reason TEXT,
            capture_time TEXT,
            state TEXT NOT NULL CHECK (state IN ('indexed', 'skipped')),
            skip_reason TEXT,
            model_sha256 TEXT,
            index_id INTEGER,
            gen INTEGER NOT NULL,
            deleted_gen INTEGER
        )""",
        """CREATE UNIQUE INDEX photos_one_per_path ON photos(collection_id, path)
            WHERE deleted_gen IS NULL""",
    ),
    # 2: listing a collection by state is what the GUI and `collection show` do most
    ("CREATE INDEX photos_by_state ON photos(collection_id, state)",),
    # 3: compressed index kinds. ``index_kind`` is the kind asked for; the index in use
    # (``index_kind_used``) stays flat until there are enough photos to train it, and the
    # conversion records its recall@10 against exact search (or why it failed).
    (
        "ALTER TABLE collections ADD COLUMN index_params TEXT",
        "ALTER TABLE collections ADD COLUMN index_kind_used TEXT NOT NULL DEFAULT 'flat'",
        "ALTER TABLE collections ADD COLUMN index_recall_at_10 REAL",
        "ALTER TABLE collections ADD COLUMN index_note TEXT",
    ),
    # 4: the geotag journal (geotag_journal.py): every change sciceapp makes to a photo
    # or its sidecar is recorded here *before* the file is replaced, with what to restore.
    # A change is one user action (a `geotag set`, a review --apply, a GPX run); it holds one
    # write per file. ``undo_sha256`` is what the file will be after an undo (NULL: removed).
    (
        """CREATE TABLE geotag_changes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created TEXT NOT NULL,
            summary TEXT NOT NULL,
            undone TEXT
        )""",
        """CREATE TABLE geotag_writes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            change_id INTEGER NOT NULL REFERENCES geotag_changes(id) ON DELETE CASCADE,
            photo TEXT NOT NULL,
            target TEXT NOT NULL,
            sidecar INTEGER NOT NULL,
            source TEXT NOT NULL,
            old_tags TEXT,
            new_tags TEXT NOT NULL,
            old_sha256 TEXT,
            old_size INTEGER,
            old_mode INTEGER,
            old_atime_ns INTEGER,
            old_mtime_ns INTEGER,
            new_sha256 TEXT NOT NULL,
            backup_kind TEXT NOT NULL CHECK (backup_kind IN ('none', 'bytes', 'metadata')),
            backup_sha256 TEXT,
            undo_sha256 TEXT,
            state TEXT NOT NULL CHECK (state IN
                ('pending', 'done', 'failed', 'undoing', 'undone', 'conflict')),
            note TEXT
        )""",
        """CREATE INDEX geotag_writes_by_change ON geotag_writes(change_id)""",
        """CREATE INDEX geotag_writes_by_state ON geotag_writes(state)""",
    ),
    # 5: local features (feature_store.py) on or off; collections made before them have none
    ("ALTER TABLE collections ADD COLUMN local_features INTEGER NOT NULL DEFAULT 0",),
    # 6: a random uid per collection, written into its index files' checksummed header so a
    # file copied from another collection (or another data folder) is refused; and roots
    # whose folder was not found at the last update (their photos are kept, not removed).
    (
        "ALTER TABLE collections ADD COLUMN uid TEXT",
        "UPDATE collections SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL",
        "ALTER TABLE roots ADD COLUMN missing_since TEXT",
    ),
    # 7: the append-only descriptor store (``store.py``). Each saved generation commits the
    # segment it appended; ``store_dtype`` is the row type the collection chose, and
    # ``index_sha256`` the checksum of the trained kinds' faiss file of ``saved_gen``.
    (
        """CREATE TABLE store_segments (
            collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
            gen INTEGER NOT NULL,
            first_row INTEGER NOT NULL,
            rows INTEGER NOT NULL,
            first_deleted INTEGER NOT NULL,
            deleted INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            PRIMARY KEY (collection_id, gen)
        )""",
        "ALTER TABLE collections ADD COLUMN store_dtype TEXT NOT NULL DEFAULT 'float32'",
        "ALTER TABLE collections ADD COLUMN index_sha256 TEXT",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)
