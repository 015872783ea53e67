"""Telegram adapter on python-telegram-bot.

The bot token is part of every Bot API URL, and httpx logs request URLs at INFO
(python-telegram-bot logs its base URL at DEBUG), so both loggers are held at
WARNING here: the token never reaches a log through them.
"""

from __future__ import annotations

import asyncio
import logging
import warnings

from telegram import Bot
from telegram.error import NetworkError, RetryAfter, TelegramError

for _chatty in ("httpx", "httpcore", "telegram"):
    logging.getLogger(_chatty).setLevel(logging.WARNING)


class NotificationError(Exception):
    """Sending failed; ``retry_after`` (seconds) is set when Telegram asked us to wait."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class TelegramSender:
    def __init__(self, token: str, base_url: str = "https://api.telegram.org/bot"):
        self._token = token
        self._base_url = base_url

    def send(self, chat_id: str, text: str) -> int:
        """Send one message; returns Telegram's message id."""
        return asyncio.run(self._send(chat_id, text))

    async def _send(self, chat_id: str, text: str) -> int:
        bot = Bot(self._token, base_url=self._base_url)
        try:
            async with bot:
                message = await bot.send_message(chat_id=chat_id, text=text, disable_web_page_preview=True)
        except RetryAfter as error:
            with warnings.catch_warnings():  # PTB warns that the type will become timedelta
                warnings.simplefilter("ignore")
                delay = error.retry_after
            seconds = delay.total_seconds() if hasattr(delay, "total_seconds") else float(delay)
            raise NotificationError("Telegram rate limit", retry_after=seconds) from None
        except NetworkError as error:
            raise NotificationError(f"Telegram unreachable: {type(error).__name__}") from None
        except TelegramError as error:
            raise NotificationError(f"Telegram refused the message: {error.message}") from None
        return message.message_id
