"""The registry's services, built from one database and one blob driver."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockyard.registry.attributes import AttributeService
from dockyard.registry.blobs import BlobService
from dockyard.registry.gc import GarbageCollector
from dockyard.registry.importer import ImportService
from dockyard.registry.integrity import IntegrityChecker
from dockyard.registry.listing import ListingService
from dockyard.registry.manifests import ManifestService
from dockyard.registry.network_rules import NetworkRuleService
from dockyard.registry.purge import PurgeService
from dockyard.registry.quarantine import QuarantineService
from dockyard.registry.repositories import RepositoryService
from dockyard.registry.retention import RetentionService, policies_changed
from dockyard.registry.soft_delete import SoftDeleteService
from dockyard.registry.uploads import UploadService
from dockyard.registry.usage import StorageLimit, UsageService
from dockyard.storage.db.database import Database
from dockyard.storage.driver import BlobDriver
from dockyard.tiers.policies import PolicyService


@dataclass(frozen=True)
class RegistryOptions:
    allow_sparse_manifests: bool = False
    max_manifest_bytes: int = 4 * 1024 * 1024
    gc_grace_seconds: float = 3600.0
    upload_ttl_seconds: float = 7 * 24 * 3600.0
    gc_delete_untagged: bool = False
    storage_limit_bytes: int = 5 * 1024**4
    rate_overrides: dict[str, int] = field(default_factory=dict)
    import_allow_private_sources: bool = False


class Registry:
    def __init__(self, db: Database, driver: BlobDriver, options: RegistryOptions) -> None:
        self.db = db
        self.driver = driver
        self.storage_limit = StorageLimit(options.storage_limit_bytes)
        self.usage = UsageService(db, self.storage_limit)
        self.blobs = BlobService(db, driver, options.gc_grace_seconds, self.storage_limit)
        self.uploads = UploadService(db, driver, self.blobs)
        self.manifests = ManifestService(
            db,
            driver,
            options.allow_sparse_manifests,
            options.max_manifest_bytes,
            self.storage_limit,
        )
        self.attributes = AttributeService(db)
        self.listing = ListingService(db)
        self.imports = ImportService(
            db, self.blobs, self.uploads, self.manifests, options.import_allow_private_sources
        )
        self.repositories = RepositoryService(db)
        self.soft_delete = SoftDeleteService(db, self.manifests, options.allow_sparse_manifests)
        self.retention = RetentionService(db, self.manifests)
        self.purge = PurgeService(db, self.manifests)
        self.quarantine = QuarantineService(db)
        self.policies = PolicyService(
            db, options.storage_limit_bytes, options.rate_overrides, on_change=policies_changed
        )
        self.network_rules = NetworkRuleService(db)
        self.integrity = IntegrityChecker(db, driver, options.allow_sparse_manifests)
        self.gc = GarbageCollector(
            db,
            driver,
            grace_seconds=options.gc_grace_seconds,
            upload_ttl_seconds=options.upload_ttl_seconds,
            delete_untagged=options.gc_delete_untagged,
        )
