"""Self-tests: buttons (``discord.ui.View``) clicked through the emulator, with the
real discord.py client: routing, callback responses, Discord's component rules."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import discord
import pytest

from . import payloads as P
from .plugin import started_client
from .server import DiscordEmulator
from .test_discord_emulator import TIMEOUT, make_client, token


class Choice(discord.ui.View):
    """Two buttons; each click is put on ``clicks`` and answered by ``answer``."""

    def __init__(self, answer: str = "ephemeral") -> None:
        super().__init__(timeout=60)
        self.answer = answer
        self.clicks: asyncio.Queue[tuple[str, discord.Interaction]] = asyncio.Queue()
        self.errors: list[BaseException] = []

    async def _answer(self, interaction: discord.Interaction, name: str) -> None:
        try:
            if self.answer == "ephemeral":
                await interaction.response.send_message(f"You chose {name}.", ephemeral=True)
            elif self.answer == "update":
                for item in self.children:
                    assert isinstance(item, discord.ui.Button)
                    item.disabled = True
                await interaction.response.edit_message(content=f"Closed: {name}", view=self)
            elif self.answer == "defer-edit":
                await interaction.response.defer()
                await interaction.edit_original_response(content="done", view=None)
                await interaction.followup.send("noted", ephemeral=True)
            elif self.answer == "defer-twice":
                await interaction.response.defer()
            elif self.answer == "none":
                pass  # the test answers (or not) itself
            elif self.answer == "late":
                await asyncio.sleep(0.1)
                await interaction.response.send_message("too late")
        except discord.HTTPException as exc:
            self.errors.append(exc)
        finally:
            await self.clicks.put((name, interaction))

    @discord.ui.button(label="Yes", style=discord.ButtonStyle.success, custom_id="yes")
    async def yes(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await self._answer(interaction, "yes")

    @discord.ui.button(label="No", style=discord.ButtonStyle.danger, custom_id="no", emoji="✖️")
    async def no(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await self._answer(interaction, "no")

    async def next_click(self) -> tuple[str, discord.Interaction]:
        async with asyncio.timeout(TIMEOUT):
            return await self.clicks.get()


async def _send_view(client: discord.Client, emu: DiscordEmulator, view: discord.ui.View) -> str:
    channel = client.get_channel(int(emu.channel_id))
    assert isinstance(channel, discord.TextChannel)
    message = await channel.send("Pick one", view=view)
    return str(message.id)


# ---------------------------------------------------------------------------
async def test_click_routes_to_the_view_and_the_user_sees_an_ephemeral_reply(
    discord_emulator: DiscordEmulator,
) -> None:
    emu = discord_emulator
    client = make_client()
    async with started_client(client, token(emu)):
        view = Choice("ephemeral")
        mid = await _send_view(client, emu, view)
        # stored as Discord stores it: one row, two buttons, numeric ids assigned
        stored = emu.message(mid)["components"]
        assert [c["id"] for c in (stored[0], *stored[0]["components"])] == [1, 2, 3]
        assert [b["custom_id"] for b in emu.buttons(mid)] == ["yes", "no"]
        assert emu.buttons(mid)[1]["emoji"] == {"id": None, "name": "✖️"}

        payload = await emu.click(mid, "yes", user=emu.alice)
        name, interaction = await view.next_click()
        assert not view.errors
        assert name == "yes"
        assert interaction.type is discord.InteractionType.component
        assert interaction.data == {"custom_id": "yes", "component_type": 2}
        assert interaction.user.id == int(emu.alice["id"])
        assert isinstance(interaction.user, discord.Member)
        assert interaction.guild_id == int(emu.guild_id)
        assert interaction.message is not None and interaction.message.id == int(mid)
        assert interaction.message.components[0].children[0].custom_id == "yes"  # type: ignore[union-attr]

        # the payload is Discord's shape for a guild click
        assert payload["type"] == 3 and payload["version"] == 1
        assert payload["application_id"] == emu.application_id
        assert payload["channel_id"] == emu.channel_id == payload["channel"]["id"]
        assert payload["member"]["user"]["id"] == emu.alice["id"] and "user" not in payload
        assert payload["member"]["permissions"] and payload["app_permissions"]
        assert payload["message"]["id"] == mid and payload["message"]["components"] == stored
        assert payload["context"] == 0
        assert payload["authorizing_integration_owners"] == {"0": emu.guild_id}
        assert payload["locale"] == payload["guild_locale"] == "en-US"

        record = emu.interaction(payload["id"])
        assert (record.type, record.message_id, record.custom_id) == (3, mid, "yes")
        assert record.callback_types == [4] and emu.clicks(mid) == [record]
        out = emu.outcome(payload["id"])
        assert out.response_type == 4 and out.ephemeral
        assert out.ephemeral_replies == ["You chose yes."]
        assert not out.message_updated and [b["disabled"] for b in out.buttons] == [False] * 2
        # the answer is an ephemeral reply to the clicked message, from the interaction
        reply = emu.message(out.replies[0].message_id)
        assert reply["type"] == P.MESSAGE_REPLY and reply["flags"] & P.FLAG_EPHEMERAL
        assert reply["message_reference"]["message_id"] == mid
        assert reply["interaction_metadata"]["type"] == 3
        assert reply["interaction_metadata"]["interacted_message_id"] == mid
        # nobody else sees it
        visible = emu.channel_messages(emu.channel_id, include_ephemeral=False)
        assert [m["content"] for m in visible] == ["Pick one"]


async def test_update_message_disables_the_buttons(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    client = make_client()
    updates: asyncio.Queue[discord.Message] = asyncio.Queue()

    @client.event
    async def on_message_edit(before: discord.Message, after: discord.Message) -> None:
        await updates.put(after)

    async with started_client(client, token(emu)):
        view = Choice("update")
        mid = await _send_view(client, emu, view)
        payload = await emu.click(mid, "no")
        await view.next_click()
        assert not view.errors
        out = emu.outcome(payload["id"])
        assert out.response_type == 7 and out.replies == [] and out.message_updated
        assert out.message is not None and out.message["content"] == "Closed: no"
        assert [b["disabled"] for b in emu.buttons(mid)] == [True, True]
        assert emu.interaction(payload["id"]).original_message_id == mid
        # MESSAGE_UPDATE reached the client
        async with asyncio.timeout(TIMEOUT):
            edited = await updates.get()
        assert edited.id == int(mid) and edited.content == "Closed: no"
        # a disabled button cannot be clicked, an unknown one neither
        with pytest.raises(AssertionError, match="disabled"):
            await emu.click(mid, "yes")
        with pytest.raises(AssertionError, match="no button with custom_id 'maybe'"):
            await emu.click(mid, "maybe")
        assert len(emu.clicks(mid)) == 1


async def test_deferred_update_then_edit_original_and_ephemeral_followup(
    discord_emulator: DiscordEmulator,
) -> None:
    emu = discord_emulator
    client = make_client()
    async with started_client(client, token(emu)):
        view = Choice("defer-edit")
        mid = await _send_view(client, emu, view)
        payload = await emu.click(mid, "yes")
        await view.next_click()
        assert not view.errors
        out = emu.outcome(payload["id"])
        assert out.response_type == 6
        # @original after a deferred update is the clicked message: buttons gone
        assert out.message_updated and out.buttons == []
        assert emu.message(mid)["content"] == "done"
        assert out.ephemeral_replies == ["noted"] and out.replies[0].followup


async def test_ephemeral_message_buttons_are_clicked_by_its_user_only(
    discord_emulator: DiscordEmulator,
) -> None:
    emu = discord_emulator
    client = make_client()
    tree = discord.app_commands.CommandTree(client)
    view = Choice("update")

    @tree.command(name="menu", description="menu")
    async def menu(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Pick", view=view, ephemeral=True)

    async with started_client(client, token(emu)):
        await tree.sync()
        command = await emu.send_slash_command("menu")
        await emu.wait_until(lambda: emu.interaction(command["id"]).acknowledged)
        mid = emu.interaction(command["id"]).original_message_id
        assert mid is not None
        bob = emu.add_user("bob")
        with pytest.raises(AssertionError, match="ephemeral"):
            await emu.click(mid, "yes", user=bob)
        payload = await emu.click(mid, "yes")
        await view.next_click()
        out = emu.outcome(payload["id"])
        assert out.response_type == 7 and out.ephemeral
        assert [b["disabled"] for b in emu.buttons(mid)] == [True, True]


async def test_click_in_a_dm_sends_user_not_member(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    client = make_client()
    async with started_client(client, token(emu)):
        dm = await client.create_dm(discord.Object(id=int(emu.alice["id"])))
        view = Choice("ephemeral")
        message = await dm.send("Pick", view=view)
        payload = await emu.click(str(message.id), "no")
        _, interaction = await view.next_click()
        assert "member" not in payload and "guild_id" not in payload
        assert payload["user"]["id"] == emu.alice["id"] and payload["context"] == 1
        assert interaction.guild is None and interaction.user.name == "alice"
        assert emu.outcome(payload["id"]).ephemeral_replies == ["You chose no."]


class Persistent(discord.ui.View):
    def __init__(self, seen: asyncio.Queue[int] | None = None) -> None:
        super().__init__(timeout=None)
        self.seen = seen

    @discord.ui.button(label="Subscribe", custom_id="persistent:subscribe")
    async def subscribe(
        self, interaction: discord.Interaction, button: discord.ui.Button[Any]
    ) -> None:
        await interaction.response.send_message("Subscribed.", ephemeral=True)
        if self.seen is not None:
            await self.seen.put(interaction.message.id if interaction.message else 0)


async def test_persistent_view_answers_after_a_restart(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    first = make_client()
    async with started_client(first, token(emu)):
        mid = await _send_view(first, emu, Persistent())
    # a new process: the view is registered at start, without a message id
    seen: asyncio.Queue[int] = asyncio.Queue()

    class Restarted(discord.Client):
        async def setup_hook(self) -> None:
            self.add_view(Persistent(seen))

    intents = discord.Intents.default()
    second = Restarted(
        intents=intents, allowed_mentions=discord.AllowedMentions.none(), guild_ready_timeout=0.05
    )
    async with started_client(second, token(emu)):
        assert second.get_channel(int(emu.channel_id)) is not None
        payload = await emu.click(mid, "persistent:subscribe")
        async with asyncio.timeout(TIMEOUT):
            assert await seen.get() == int(mid)
        assert emu.outcome(payload["id"]).ephemeral_replies == ["Subscribed."]


async def test_second_acknowledgement_is_40060(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    client = make_client()
    async with started_client(client, token(emu)):
        view = Choice("defer-twice")
        mid = await _send_view(client, emu, view)
        payload = await emu.click(mid, "yes")
        await view.next_click()
        # a gateway replay delivers the same interaction again: a second callback
        await emu.replay_last_dispatch("INTERACTION_CREATE")
        await view.next_click()
        assert len(view.errors) == 1
        exc = view.errors[0]
        assert isinstance(exc, discord.HTTPException)
        assert exc.status == 400 and exc.code == 40060
        record = emu.interaction(payload["id"])
        assert [c.status for c in record.callbacks] == [200, 400]
        assert record.response_type == 6


async def test_late_callback_is_10062(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    emu.callback_deadline = 0.05  # the 3 s deadline, shortened
    client = make_client()
    async with started_client(client, token(emu)):
        view = Choice("late")
        mid = await _send_view(client, emu, view)
        payload = await emu.click(mid, "no")
        await view.next_click()
        assert len(view.errors) == 1
        exc = view.errors[0]
        assert isinstance(exc, discord.NotFound) and exc.code == 10062
        out = emu.outcome(payload["id"])
        assert out.response_type is None and out.replies == []


async def test_update_callbacks_only_for_components(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    command = await emu.send_slash_command("anything")
    url = f"{emu.api_base}/interactions/{command['id']}/{command['token']}/callback"
    async with aiohttp.ClientSession() as session, session.post(url, json={"type": 7}) as resp:
        assert resp.status == 400
        body = await resp.json()
    assert body["code"] == 50035 and "type" in body["errors"]
    assert not emu.interaction(command["id"]).acknowledged


def _row(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(buttons)}


def _button(custom_id: str | None = "b", **extra: Any) -> dict[str, Any]:
    button: dict[str, Any] = {"type": 2, "style": 1, "label": "B", **extra}
    if custom_id is not None:
        button["custom_id"] = custom_id
    return button


def _leaves(errors: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in errors.items():
        if key == "_errors":
            out.extend((prefix.rstrip("."), e["code"]) for e in value)
        else:
            out.extend(_leaves(value, f"{prefix}{key}."))
    return out


async def test_components_are_held_to_discords_rules(discord_emulator: DiscordEmulator) -> None:
    emu = discord_emulator
    client = make_client()
    async with started_client(client, token(emu)) as c:
        channel = c.get_channel(int(emu.channel_id))
        assert isinstance(channel, discord.TextChannel)

        # through discord.py: two buttons with the same custom_id
        view = discord.ui.View()
        view.add_item(discord.ui.Button(label="a", custom_id="same"))
        view.add_item(discord.ui.Button(label="b", custom_id="same", disabled=True))
        with pytest.raises(discord.HTTPException) as dup:
            await channel.send("x", view=view)
        assert dup.value.status == 400 and dup.value.code == 50035
        assert dup.value.text.endswith(
            "In components.0.components.1.custom_id: Component custom id cannot be duplicated"
        )

        route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=channel.id)

        async def refused(components: list[Any], **body: Any) -> list[tuple[str, str]]:
            with pytest.raises(discord.HTTPException) as exc:
                await c.http.request(route, json={"content": "x", "components": components, **body})
            assert exc.value.code == 50035
            response = emu.requests[-1].response
            assert response["message"] == "Invalid Form Body"
            return _leaves(response["errors"])

        six_rows = [_row(_button(f"r{i}")) for i in range(6)]
        assert await refused(six_rows) == [("components", "BASE_TYPE_MAX_LENGTH")]
        link_with_id = _button("x", style=5, url="https://example.com")
        assert await refused([_row(link_with_id)]) == [
            ("components.0.components.0.custom_id", "BUTTON_COMPONENT_INVALID_FIELD")
        ]
        assert await refused([_row(_button(None, style=5))]) == [
            ("components.0.components.0.url", "BUTTON_COMPONENT_URL_REQUIRED")
        ]
        assert await refused([_row(_button(None))]) == [
            ("components.0.components.0.custom_id", "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED")
        ]
        premium = {"type": 2, "style": 6}
        assert await refused([_row(premium)]) == [
            ("components.0.components.0.sku_id", "BUTTON_COMPONENT_SKU_ID_REQUIRED")
        ]
        bad_emoji = _button(emoji={"name": ":smile:"})
        assert await refused([_row(_button("ok"), bad_emoji)]) == [
            ("components.0.components.1.emoji", "BUTTON_COMPONENT_INVALID_EMOJI")
        ]
        select = {"type": 3, "custom_id": "s", "options": [{"label": "o", "value": "o"}]}
        assert await refused([_row(select, _button("b2"))]) == [
            ("components.0.components", "COMPONENT_LAYOUT_WIDTH_EXCEEDED")
        ]
        text = {"type": 10, "content": "v2 text"}
        assert await refused([text]) == [("components.0.type", "BASE_TYPE_CHOICES")]
        # the same component is fine with the components v2 flag (and no content)
        v2 = await c.http.request(
            route, json={"components": [text, _row(_button("v"))], "flags": 1 << 15}
        )
        assert [comp["id"] for comp in v2["components"]] == [1, 2]

        # the spec's own limits answer first (and are spec violations)
        assert await refused([_row(_button("y" * 101))]) != []
        assert await refused([_row(*[_button(f"b{i}") for i in range(6)])]) != []
        assert len(emu.spec_violations) == 2
        emu.spec_violations.clear()

        # edits are held to the same rules: the message keeps its buttons
        ok = await channel.send("ok", view=Choice())
        with pytest.raises(discord.HTTPException) as edit:
            await c.http.request(
                discord.http.Route(
                    "PATCH",
                    "/channels/{channel_id}/messages/{message_id}",
                    channel_id=channel.id,
                    message_id=ok.id,
                ),
                json={"components": six_rows},
            )
        assert edit.value.code == 50035
        assert [b["custom_id"] for b in emu.buttons(str(ok.id))] == ["yes", "no"]
    stored = [m["content"] for m in emu.channel_messages(emu.channel_id)]
    assert stored == ["", "ok"]  # the v2 message (no content) and the valid one


async def test_invalid_components_in_an_interaction_answer(
    discord_emulator: DiscordEmulator,
) -> None:
    emu = discord_emulator
    client = make_client()
    async with started_client(client, token(emu)):
        view = Choice("none")
        mid = await _send_view(client, emu, view)
        payload = await emu.click(mid, "no")
        await view.next_click()
        # an UPDATE_MESSAGE with duplicate custom ids
        url = f"{emu.api_base}/interactions/{payload['id']}/{payload['token']}/callback"
        body = {"type": 7, "data": {"components": [_row(_button("d"), _button("d"))]}}
        async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
            assert resp.status == 400
            answer = await resp.json()
        assert answer["code"] == 50035
        assert _leaves(answer["errors"]) == [
            ("components.0.components.1.custom_id", "COMPONENT_CUSTOM_ID_DUPLICATED")
        ]
        out = emu.outcome(payload["id"])
        assert out.response_type is None and not out.message_updated
        assert [b["custom_id"] for b in out.buttons] == ["yes", "no"]
