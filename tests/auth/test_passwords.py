"""The password hasher's decoy: verified against for unknown users, so it must cost what a
real password's check costs."""

from __future__ import annotations

from argon2 import PasswordHasher

from mmstack.auth.passwords import DECOY, hash_password, needs_rehash, verify_password


def test_the_decoy_has_the_hashers_parameters() -> None:
    # A real hash and the decoy: same algorithm and costs, so the same time to verify.
    real = hash_password("Correct-Horse-Battery-42")
    assert not needs_rehash(DECOY)
    assert DECOY.split("$")[1:4] == real.split("$")[1:4]
    assert DECOY.split("$")[1:4] == ["argon2id", "v=19", _costs(PasswordHasher())]


def test_an_unknown_user_is_never_a_match() -> None:
    assert not verify_password(None, "decoy password, never used")
    assert verify_password(hash_password("Correct-Horse-Battery-42"), "Correct-Horse-Battery-42")


def _costs(hasher: PasswordHasher) -> str:
    return f"m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
