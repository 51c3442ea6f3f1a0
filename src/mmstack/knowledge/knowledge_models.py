"""Knowledge models: model ids a client picks to get grounded answers, for the clients that
speak only chat completions and cannot send `vector_store_ids` (Open WebUI, LibreChat, n8n,
editor plugins). Each collection the caller may read is one (`kb/<collection name>`, or by
its id), and an administrator names others in `knowledge.models` (several collections, a
chat model, instructions).

A knowledge model is resolved for each request in the caller's team, so two teams with a
collection of the same name each get their own, and an API key limited to some collections
sees only theirs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from mmstack.config.settings import KnowledgeModelSettings, KnowledgeSettings
from mmstack.errors import InvalidRequestError, NotFoundError
from mmstack.index.attribute_filter import AttributeFilter, parse_filter
from mmstack.index.model_directory import ModelNotFoundError
from mmstack.knowledge.collections import CollectionService
from mmstack.store.models import Collection
from mmstack.store.ownership import Owner, OwnerScoped


@dataclass(frozen=True, slots=True)
class KnowledgeModel:
    id: str
    name: str  # what a client shows
    collection_ids: tuple[str, ...]
    model: str  # the chat model (or alias) that answers
    created: int
    instructions: str | None = None
    description: str | None = None
    filters: AttributeFilter | None = None  # on the files' attributes


class KnowledgeModels(OwnerScoped):
    def __init__(
        self, collections: CollectionService, settings: KnowledgeSettings, *, answer_model: str
    ) -> None:
        self._collections = collections
        self._settings = settings
        self._answer_model = answer_model
        self._named = {model.id: model for model in settings.models}
        # Checked now: a wrong filter stops the start, not a user's question.
        self._filters = {
            model.id: parse_filter(model.filters, where=f"knowledge.models[{model.id}].filters")
            for model in settings.models
            if model.filters is not None
        }

    def _bind_parts(self, owner: Owner) -> None:
        self._collections = self._collections.for_owner(owner)

    @property
    def settings(self) -> KnowledgeSettings:
        return self._settings

    def list(self) -> list[KnowledgeModel]:
        """The named knowledge models the caller may use, then one per collection."""
        found = [model for named in self._named.values() if (model := self._named_model(named))]
        if self._settings.collection_models:
            prefix = self._settings.prefix
            collections = self._collections.list_rows()
            names = Counter(collection.name for collection in collections)
            # A name two vector stores share names neither: each goes by its id.
            found += [
                self._of_collection(prefix + (c.name if names[c.name] == 1 else c.id), c)
                for c in collections
            ]
        return found

    def find(self, model_id: str) -> KnowledgeModel | None:
        """The knowledge model `model_id` names, None when it names none (an ordinary
        model); a knowledge model id whose collections the caller cannot read is a 404."""
        named = self._named.get(model_id)
        if named is not None:
            model = self._named_model(named)
            if model is None:
                raise _not_found(model_id)
            return model
        prefix = self._settings.prefix
        if not self._settings.collection_models or not model_id.startswith(prefix):
            return None
        try:
            collection = self._collections.row(model_id.removeprefix(prefix))
        except NotFoundError:
            raise _not_found(model_id) from None
        except InvalidRequestError as ambiguous:  # vector stores sharing the name
            raise InvalidRequestError(
                f"several collections answer to '{model_id}': use the model "
                f"'{prefix}<collection id>' (GET /v1/models lists them)",
                param="model",
            ) from ambiguous
        return self._of_collection(model_id, collection)

    def _of_collection(self, model_id: str, collection: Collection) -> KnowledgeModel:
        return KnowledgeModel(
            id=model_id,
            name=f"{collection.name} (documents)",
            collection_ids=(collection.id,),
            model=self._answer_model,
            created=collection.created_at,
            description=collection.description,
        )

    def is_housekeeping(self, last_message: str) -> bool:
        """Whether a request whose last message is `last_message` is a client's own
        background request (a chat title, tags, follow-up suggestions, search queries)
        rather than a user's question: it carries one of the clients' task markers
        (`knowledge.housekeeping_markers`, from the clients' documented task prompts)."""
        return any(marker in last_message for marker in self._settings.housekeeping_markers)

    def _named_model(self, named: KnowledgeModelSettings) -> KnowledgeModel | None:
        try:
            ids = self._collections.resolve_ids(named.collections)
        except (NotFoundError, InvalidRequestError):  # not the caller's, or a shared name
            return None
        return KnowledgeModel(
            id=named.id,
            name=named.id,
            collection_ids=ids,
            model=named.model or self._answer_model,
            created=0,
            instructions=named.instructions,
            description=named.description,
            filters=self._filters.get(named.id),
        )


def _not_found(model_id: str) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"the knowledge model '{model_id}' does not exist or answers from collections you "
        "cannot read (GET /v1/models lists yours)",
        param="model",
    )
