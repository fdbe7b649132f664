"""HTTP for Web Push: the VAPID public key, my subscriptions, my muted kinds, a test notification. Thin."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import ANY_ROLE
from backend.auth.services import CurrentUser
from backend.errors import error_responses
from backend.push.kinds import KINDS, MUTABLE_KINDS
from backend.push.models import PushSubscription
from backend.push.schemas import (
    KindRead,
    PreferencesRead,
    PreferencesUpdate,
    SubscriptionCreate,
    SubscriptionRead,
    TestSent,
    VapidPublicKey,
)
from backend.push.services import PushService, SubscriptionInput


def subscription_read(s: PushSubscription) -> SubscriptionRead:
    return SubscriptionRead(
        id=s.id,
        endpoint=s.endpoint,
        client_id=s.client_id,
        user_agent=s.user_agent,
        expires_at=s.expires_at,
        created_at=s.created_at,
        last_success_at=s.last_success_at,
        last_failure_at=s.last_failure_at,
        failures=s.failures,
    )


def preferences_read(muted: list[str]) -> PreferencesRead:
    kinds = [KINDS[name] for name in MUTABLE_KINDS]
    return PreferencesRead(
        muted=muted,
        kinds=[KindRead(kind=k.name, description=k.description, urgency=k.urgency, ttl=k.ttl) for k in kinds],
    )


async def provide_push(db_session: NamedDependency[AsyncSession], state: State) -> PushService:
    # Plain http to this machine only outside prod: the tests' local receiver plays the push service.
    return PushService(db_session, allow_local_http=not state.settings.is_prod)


class PushController(Controller):
    path = "/api/push"
    tags = ["push"]
    dependencies = {"push": Provide(provide_push)}

    @get(
        "/vapid-public-key",
        operation_id="getVapidPublicKey",
        opt=ANY_ROLE,
        summary="The server's VAPID public key, the applicationServerKey for PushManager.subscribe",
        responses=error_responses(401, 403),
    )
    async def vapid_public_key(self, state: State) -> VapidPublicKey:
        return VapidPublicKey(public_key=state.push.public_key)

    @post(
        "/subscriptions",
        operation_id="subscribePush",
        opt=ANY_ROLE,
        status_code=HTTP_201_CREATED,
        summary="Store this browser's push subscription for me (201; the same endpoint again: updated, 200)",
        responses=error_responses(401, 403, 413),
    )
    async def subscribe(
        self,
        request: Request[CurrentUser, str, State],
        data: JSONBody[SubscriptionCreate],
        push: NamedDependency[PushService],
    ) -> Response[SubscriptionRead]:
        subscription, created = await push.subscribe(
            request.user,
            SubscriptionInput(
                endpoint=data.endpoint,
                p256dh=data.keys.p256dh,
                auth=data.keys.auth,
                expiration_time=data.expiration_time,
                client_id=data.client_id,
                user_agent=data.user_agent,
            ),
        )
        return Response(
            subscription_read(subscription), status_code=HTTP_201_CREATED if created else HTTP_200_OK
        )

    @get(
        "/subscriptions",
        operation_id="listMyPushSubscriptions",
        opt=ANY_ROLE,
        summary="My push subscriptions (one per browser I allowed notifications in)",
        responses=error_responses(401, 403),
    )
    async def list_subscriptions(
        self, request: Request[CurrentUser, str, State], push: NamedDependency[PushService]
    ) -> list[SubscriptionRead]:
        return [subscription_read(s) for s in await push.list_subscriptions(request.user)]

    @delete(
        "/subscriptions/{subscription_id:uuid}",
        operation_id="unsubscribePush",
        opt=ANY_ROLE,
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove one of my push subscriptions (what was still waiting for it is dropped)",
        responses=error_responses(401, 403, 404),
    )
    async def unsubscribe(
        self,
        request: Request[CurrentUser, str, State],
        subscription_id: FromPath[UUID],
        push: NamedDependency[PushService],
    ) -> None:
        await push.unsubscribe(request.user, subscription_id)

    @get(
        "/preferences",
        operation_id="getPushPreferences",
        opt=ANY_ROLE,
        summary="The kinds of notification I muted, and every kind there is",
        responses=error_responses(401, 403),
    )
    async def preferences(
        self, request: Request[CurrentUser, str, State], push: NamedDependency[PushService]
    ) -> PreferencesRead:
        return preferences_read(await push.muted(request.user))

    @put(
        "/preferences",
        operation_id="setPushPreferences",
        opt=ANY_ROLE,
        summary="Set the kinds of notification I do not want (the whole list)",
        responses=error_responses(401, 403, 413),
    )
    async def set_preferences(
        self,
        request: Request[CurrentUser, str, State],
        data: JSONBody[PreferencesUpdate],
        push: NamedDependency[PushService],
    ) -> PreferencesRead:
        return preferences_read(await push.set_muted(request.user, data.muted))

    @post(
        "/test",
        operation_id="sendTestPush",
        opt=ANY_ROLE,
        status_code=HTTP_202_ACCEPTED,
        summary="Send myself a test notification on every subscribed browser",
        responses=error_responses(401, 403),
    )
    async def send_test(
        self, request: Request[CurrentUser, str, State], push: NamedDependency[PushService]
    ) -> TestSent:
        return TestSent(queued=await push.send_test(request.user))


PUSH_ROUTES = [PushController]
