"""The registry wing: its services, as one value handed to the edges and the jobs."""

from __future__ import annotations

from dataclasses import dataclass

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
from dockyard.registry.retention import RetentionService
from dockyard.registry.soft_delete import SoftDeleteService
from dockyard.registry.uploads import UploadService
from dockyard.registry.usage import StorageLimit, UsageService
from dockyard.storage.db.database import Database
from dockyard.storage.driver import BlobDriver
from dockyard.tiers.policies import PolicyService


@dataclass(frozen=True)
class Registry:
    """The registry wing's services over one database and one blob driver (compose.py
    builds them)."""

    db: Database
    driver: BlobDriver
    storage_limit: StorageLimit
    usage: UsageService
    blobs: BlobService
    uploads: UploadService
    manifests: ManifestService
    attributes: AttributeService
    listing: ListingService
    imports: ImportService
    repositories: RepositoryService
    soft_delete: SoftDeleteService
    retention: RetentionService
    purge: PurgeService
    quarantine: QuarantineService
    policies: PolicyService
    network_rules: NetworkRuleService
    integrity: IntegrityChecker
    gc: GarbageCollector
