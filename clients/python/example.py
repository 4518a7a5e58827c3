"""Connects to kassa, opens two accounts, deposits, transfers and prints the outcomes.

    python3 example.py [host] [port] [api_key]     (defaults: 127.0.0.1 7400 $KASSA_ADMIN_KEY)
"""

import os
import sys
import time

from kassa_client import CloseAccount, Currency, Deposit, OpenAccount, Transfer, connect


def main() -> None:
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 7400
    api_key = sys.argv[3] if len(sys.argv) > 3 else os.environ["KASSA_ADMIN_KEY"]
    run = f"ex{int(time.time())}"  # fresh ids on every run
    alice, bob = f"{run}-alice", f"{run}-bob"
    with connect(host, port, api_key) as client:
        for command in [
            OpenAccount(alice, Currency.EUR),
            OpenAccount(bob, Currency.EUR),
            Deposit(f"{run}-dep", alice, 10_000),
        ]:
            print(type(command).__name__, "->", client.submit(command))
        transfers = [client.submit_async(Transfer(f"{run}-t{n}", alice, bob, 250, Currency.EUR)) for n in range(3)]
        for future in transfers:
            print("Transfer ->", future.result())
        print("Transfer too much ->", client.submit(Transfer(f"{run}-big", alice, bob, 10**9, Currency.EUR)))
        print("CloseAccount (not empty) ->", client.submit(CloseAccount(bob)))
        client.ping()
        print("Ping -> Pong")


if __name__ == "__main__":
    main()
