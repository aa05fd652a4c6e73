import hashlib
import json

import pytest

from coins.encoding import DecodeError, b58check_encode, segwit_encode, sha256d
from daemons.simulator.chain import (
    DEFAULT_COINBASE_SCRIPT,
    MAX_BLOCKS_PER_CALL,
    MAX_OUTPUTS_PER_TX,
    Chain,
    ChainError,
    StateFileError,
)
from daemons.simulator.primitives import (
    COIN,
    GENESIS_COINBASE_HEX,
    GENESIS_HASH_HEX,
    REGTEST_BITS,
    Transaction,
    TxIn,
    TxOut,
    address_to_script,
    bits_to_target,
    genesis_header,
    history_status,
    merkle_branch,
    merkle_root,
    merkle_root_from_branch,
    parse_header,
    parse_transaction,
    scripthash_of,
)
from wallets.keys import derive_receive_address, generate_xpub

REGTEST_GENESIS_HEADER_HEX = (
    "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f61"
    "7fc81bc3888a51323a9fb8aa4b1e5e4adae5494dffff7f2002000000"
)
BLOCK_100000_TXIDS = [
    "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
    "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
    "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
    "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d",
]
BLOCK_100000_MERKLE_ROOT = "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766"


def _regtest_p2wpkh(seed: bytes) -> str:
    return segwit_encode("bcrt", 0, hashlib.sha256(seed).digest()[:20])


# --- primitives -------------------------------------------------------------------------------------


def test_genesis_header_is_the_regtest_genesis():
    header = genesis_header()
    assert header.serialize().hex() == REGTEST_GENESIS_HEADER_HEX
    assert header.hash == GENESIS_HASH_HEX == "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
    assert header.merkle_root == "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
    assert parse_header(bytes.fromhex(REGTEST_GENESIS_HEADER_HEX)) == header


def test_genesis_coinbase_txid_is_its_double_sha():
    raw = bytes.fromhex(GENESIS_COINBASE_HEX)
    tx = parse_transaction(raw)
    assert tx.txid == "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
    assert tx.txid == sha256d(raw)[::-1].hex()
    assert tx.is_coinbase
    assert tx.outputs[0].value == 50 * COIN
    assert tx.serialize() == raw


def test_merkle_root_of_mainnet_block_100000():
    assert merkle_root(BLOCK_100000_TXIDS) == BLOCK_100000_MERKLE_ROOT
    assert merkle_root(BLOCK_100000_TXIDS[:1]) == BLOCK_100000_TXIDS[0]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7])
def test_merkle_branches_fold_to_the_root(count):
    leaves = BLOCK_100000_TXIDS + [hashlib.sha256(bytes([i])).hexdigest() for i in range(3)]
    leaves = leaves[:count]
    root = merkle_root(leaves)
    for index, leaf in enumerate(leaves):
        assert merkle_root_from_branch(leaf, merkle_branch(leaves, index), index) == root
    # A proof for one leaf does not prove another.
    if count > 1:
        assert merkle_root_from_branch(leaves[1], merkle_branch(leaves, 0), 0) != root


def test_block_100000_branch_for_its_last_tx():
    assert merkle_branch(BLOCK_100000_TXIDS, 3) == [
        BLOCK_100000_TXIDS[2],
        merkle_root(BLOCK_100000_TXIDS[:2]),
    ]


@pytest.mark.parametrize(
    ("address", "network", "script_hex"),
    [
        # BIP173 / BIP350 test vectors
        ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "mainnet", "0014751e76e8199196d454941c45d1b3a323f1433bd6"),
        (
            "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
            "testnet",
            "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262",
        ),
        (
            "tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy",
            "testnet",
            "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433",
        ),
        (
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
            "mainnet",
            "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
        ),
        # Base58 (Bitcoin Core key_io vectors)
        ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "mainnet", "76a91477bff20c60e522dfaa3350c39b030a5d004e839a88ac"),
        ("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "mainnet", "a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87"),
    ],
)
def test_address_to_script_vectors(address, network, script_hex):
    assert address_to_script(address, network).hex() == script_hex


@pytest.mark.parametrize(
    "address",
    [
        "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4",  # mainnet on regtest
        "bcrt1qw508d6qejxtdg4c5r3zarvary0c5xw7kygt081",  # broken checksum
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",  # mainnet p2pkh
        "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRf0",  # not base58
        "",
    ],
)
def test_address_to_script_rejects_non_regtest(address):
    with pytest.raises(DecodeError):
        address_to_script(address, "regtest")


def test_regtest_addresses_from_our_key_derivation_decode():
    program = bytes(range(20))
    bech = segwit_encode("bcrt", 0, program)
    assert bech.startswith("bcrt1q")
    assert address_to_script(bech) == b"\x00\x14" + program
    assert address_to_script(b58check_encode(b"\x6f" + program)) == b"\x76\xa9\x14" + program + b"\x88\xac"
    assert address_to_script(b58check_encode(b"\xc4" + program)) == b"\xa9\x14" + program + b"\x87"

    shapes = {"p2wpkh": ("bcrt1q", 22), "p2pkh": (("m", "n"), 25), "p2wpkh-p2sh": ("2", 23)}
    for script_type, (prefix, size) in shapes.items():
        address = derive_receive_address(generate_xpub("regtest", script_type), "regtest", 0)
        assert address.startswith(prefix)
        assert len(address_to_script(address)) == size


def test_scripthash_is_reversed_sha256_of_the_script():
    script = bytes.fromhex("0014751e76e8199196d454941c45d1b3a323f1433bd6")
    assert scripthash_of(script) == hashlib.sha256(script).digest()[::-1].hex()


def test_history_status_follows_the_electrum_protocol():
    a, b = "aa" * 32, "bb" * 32
    assert history_status([]) is None
    assert history_status([(a, 5), (b, 0)]) == hashlib.sha256(f"{a}:5:{b}:0:".encode()).hexdigest()
    assert history_status([(a, -1)]) == hashlib.sha256(f"{a}:-1:".encode()).hexdigest()


def test_segwit_transaction_round_trip_and_txid_without_witness():
    tx = Transaction(
        2,
        (TxIn("11" * 32, 3, b"", 0xFFFFFFFD, (b"\x30" * 71, b"\x02" * 33)),),
        (TxOut(1234, b"\x00\x14" + b"\x01" * 20), TxOut(99, b"\xa9\x14" + b"\x02" * 20 + b"\x87")),
        7,
    )
    raw = tx.serialize()
    assert raw[4:6] == b"\x00\x01"
    parsed = parse_transaction(raw)
    assert parsed == tx
    assert parsed.txid == sha256d(tx.serialize(with_witness=False))[::-1].hex()
    assert parsed.txid != sha256d(raw)[::-1].hex()


@pytest.mark.parametrize(
    "raw_hex",
    [
        "",
        "02000000",
        GENESIS_COINBASE_HEX + "00",  # trailing byte
        "0200000001" + "ff" * 20,  # truncated input
        "02000000fe" + "ff" * 4,  # absurd input count
    ],
)
def test_parse_transaction_rejects_garbage(raw_hex):
    with pytest.raises(DecodeError):
        parse_transaction(bytes.fromhex(raw_hex))


# --- the chain ------------------------------------------------------------------------------------


def test_mined_blocks_link_to_genesis_with_valid_merkle_roots_and_pow():
    chain = Chain()
    result = chain.mine(3)
    assert result["height"] == 3
    assert chain.height == 3
    assert result["hashes"] == [block.hash for block in chain.blocks[1:]]
    for height in range(1, 4):
        block = chain.blocks[height]
        assert block.header.prev_hash == chain.blocks[height - 1].hash
        assert block.header.merkle_root == merkle_root(block.txids)
        assert block.header.bits == REGTEST_BITS
        assert int(block.hash, 16) <= bits_to_target(REGTEST_BITS)
        assert block.header.timestamp > chain.blocks[height - 1].header.timestamp
        assert bytes.fromhex(chain.header_hex(height)) == block.raw_header
    assert len(bytes.fromhex(chain.headers_hex(0, 10))) == 4 * 80


def test_pay_then_mine_updates_history_utxos_and_balance():
    chain = Chain()
    address = _regtest_p2wpkh(b"a")
    scripthash = scripthash_of(address_to_script(address))
    paid = chain.pay([(address, 25_000)])
    tx = parse_transaction(bytes.fromhex(paid["hex"]))
    assert tx.txid == paid["txid"]
    assert tx.outputs[paid["vout"]] == TxOut(25_000, address_to_script(address))
    assert len(tx.outputs) == 2  # plus change
    assert paid["fee"] > 0
    assert chain.history(scripthash) == [{"tx_hash": paid["txid"], "height": 0, "fee": paid["fee"]}]
    assert chain.balance(scripthash) == {"confirmed": 0, "unconfirmed": 25_000}
    assert chain.listunspent(scripthash) == [
        {"tx_hash": paid["txid"], "tx_pos": paid["vout"], "height": 0, "value": 25_000}
    ]
    assert chain.status(scripthash) == history_status([(paid["txid"], 0)])
    assert chain.take_changes().scripthashes >= {scripthash}

    chain.mine(1)
    assert chain.mempool == {}
    assert chain.history(scripthash) == [{"tx_hash": paid["txid"], "height": 1}]
    assert chain.balance(scripthash) == {"confirmed": 25_000, "unconfirmed": 0}
    proof = chain.merkle_proof(paid["txid"])
    assert proof["block_height"] == 1 and proof["pos"] == 1
    assert merkle_root_from_branch(paid["txid"], proof["merkle"], 1) == chain.blocks[1].header.merkle_root
    assert chain.tx_info(paid["txid"])["confirmations"] == 1
    chain.mine(2)
    assert chain.tx_info(paid["txid"])["confirmations"] == 3
    with pytest.raises(ChainError) as again:
        chain.broadcast(bytes.fromhex(paid["hex"]))
    assert again.value.code == "already_confirmed"
    assert chain.mempool == {}


def test_pay_many_outputs_in_one_transaction():
    chain = Chain()
    addresses = [_regtest_p2wpkh(bytes([i])) for i in range(3)]
    paid = chain.pay([(address, 1000 + i) for i, address in enumerate(addresses)])
    tx = parse_transaction(bytes.fromhex(paid["hex"]))
    assert len(tx.outputs) == 4
    for i, output in enumerate(paid["outputs"]):
        assert output["address"] == addresses[i]
        assert tx.outputs[output["vout"]] == TxOut(1000 + i, address_to_script(addresses[i]))


def test_coinbase_pays_the_mining_address_subsidy_plus_fees():
    chain = Chain()
    paid = chain.pay([(_regtest_p2wpkh(b"x"), 5000)])
    miner = _regtest_p2wpkh(b"miner")
    chain.mine(1, miner)
    coinbase = parse_transaction(chain.get_raw_tx(chain.blocks[1].txids[0]))
    assert coinbase.is_coinbase
    assert coinbase.outputs == (TxOut(50 * COIN + paid["fee"], address_to_script(miner)),)
    chain.mine(1)
    coinbase = parse_transaction(chain.get_raw_tx(chain.blocks[2].txids[0]))
    assert coinbase.outputs[0].script == DEFAULT_COINBASE_SCRIPT


def _spend(outpoints, script, value, marker=b"\x01"):
    return Transaction(
        2, tuple(TxIn(txid, vout, b"", 0xFFFFFFFD, (marker * 71, b"\x02" * 33)) for txid, vout in outpoints),
        (TxOut(value, script),), 0,
    )  # fmt: skip


def test_broadcast_spending_a_mempool_parent_has_height_minus_one_and_drop_takes_children():
    chain = Chain()
    source = _regtest_p2wpkh(b"source")
    target = address_to_script(_regtest_p2wpkh(b"target"))
    paid = chain.pay([(source, 10_000)])
    child = _spend([(paid["txid"], paid["vout"])], target, 9_000)
    assert chain.broadcast(child.serialize()) == child.txid
    assert chain.broadcast(child.serialize()) == child.txid  # re-broadcast is idempotent
    assert chain.tx_info(child.txid)["fee"] == 1_000
    source_sh = scripthash_of(address_to_script(source))
    # The spend shows in the source's history too, as unconfirmed-parent (-1).
    assert [(i["tx_hash"], i["height"]) for i in chain.history(source_sh)] == [(paid["txid"], 0), (child.txid, -1)]
    assert chain.balance(source_sh) == {"confirmed": 0, "unconfirmed": 0}
    assert chain.listunspent(source_sh) == []

    with pytest.raises(ChainError) as conflict:
        chain.broadcast(_spend([(paid["txid"], paid["vout"])], target, 8_000).serialize())
    assert conflict.value.code == "conflict"

    assert chain.drop(paid["txid"]) == {"dropped": [paid["txid"], child.txid]}
    assert chain.mempool == {}
    assert chain.history(source_sh) == []
    assert chain.history(scripthash_of(target)) == []
    assert chain.spent_by == {}


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\x00" * 10, "tx_decode_failed"),
        (bytes.fromhex(GENESIS_COINBASE_HEX), "coinbase"),
    ],
)
def test_broadcast_refusals(raw, code):
    chain = Chain()
    with pytest.raises(ChainError) as error:
        chain.broadcast(raw)
    assert error.value.code == code
    assert chain.mempool == {}


def test_broadcast_rejects_overspending_a_known_coin():
    chain = Chain()
    paid = chain.pay([(_regtest_p2wpkh(b"s"), 10_000)])
    with pytest.raises(ChainError) as error:
        chain.broadcast(_spend([(paid["txid"], paid["vout"])], b"\x51", 10_001).serialize())
    assert error.value.code == "negative_fee"
    assert list(chain.mempool) == [paid["txid"]]


def test_drop_refuses_confirmed_and_unknown_transactions():
    chain = Chain()
    paid = chain.pay([(_regtest_p2wpkh(b"a"), 1000)])
    chain.mine(1)
    with pytest.raises(ChainError) as confirmed:
        chain.drop(paid["txid"])
    assert confirmed.value.code == "confirmed"
    with pytest.raises(ChainError) as unknown:
        chain.drop("ab" * 32)
    assert unknown.value.code == "not_found"
    assert chain.tx_info(paid["txid"])["status"] == "confirmed"


def test_reorg_keeping_txs_changes_hashes_but_not_heights():
    chain = Chain()
    chain.mine(2)
    paid = chain.pay([(_regtest_p2wpkh(b"a"), 1000)])
    chain.mine(2)
    old_hashes = [block.hash for block in chain.blocks]
    chain.take_changes()
    result = chain.reorg(2)
    assert result["disconnected"] == old_hashes[3:]
    assert result["height"] == 4
    assert [block.hash for block in chain.blocks[:3]] == old_hashes[:3]
    assert [block.hash for block in chain.blocks[3:]] == result["hashes"]
    assert set(result["hashes"]).isdisjoint(old_hashes)
    assert chain.blocks[3].header.prev_hash == old_hashes[2]
    assert chain.tx_info(paid["txid"])["height"] == 3
    changes = chain.take_changes()
    assert changes.tip_changed
    assert scripthash_of(address_to_script(_regtest_p2wpkh(b"a"))) in changes.scripthashes


def test_reorg_to_mempool_and_with_a_vanishing_tx():
    chain = Chain()
    keep = chain.pay([(_regtest_p2wpkh(b"keep"), 1000)])
    gone = chain.pay([(_regtest_p2wpkh(b"gone"), 2000)])
    chain.mine(1)
    result = chain.reorg(1, keep_txs=False, drop_txids=[gone["txid"]], blocks=2)
    assert result["dropped"] == [gone["txid"]]
    assert result["mempool"] == [keep["txid"]]
    assert chain.height == 2
    assert chain.tx_info(keep["txid"])["status"] == "mempool"
    assert chain.get_raw_tx(gone["txid"]) is None
    assert chain.history(scripthash_of(address_to_script(_regtest_p2wpkh(b"gone")))) == []


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda c: c.mine(MAX_BLOCKS_PER_CALL + 1), "bad_blocks"),
        (lambda c: c.mine(0), "bad_blocks"),
        (lambda c: c.mine(True), "bad_blocks"),
        (lambda c: c.mine(1, "not-an-address"), "bad_address"),
        (lambda c: c.pay([]), "bad_outputs"),
        (lambda c: c.pay([(_regtest_p2wpkh(b"a"), 1)] * (MAX_OUTPUTS_PER_TX + 1)), "bad_outputs"),
        (lambda c: c.pay([(_regtest_p2wpkh(b"a"), 0)]), "bad_amount"),
        (lambda c: c.pay([(_regtest_p2wpkh(b"a"), 1.5)]), "bad_amount"),
        (lambda c: c.pay([(_regtest_p2wpkh(b"a"), "100")]), "bad_amount"),
        (lambda c: c.pay([("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", 100)]), "bad_address"),
        (lambda c: c.reorg(1), "bad_depth"),  # only genesis: nothing to reorg
        (lambda c: c.tx_info("xyz"), "bad_txid"),
    ],
)
def test_bounds_and_validation(call, code):
    chain = Chain()
    with pytest.raises(ChainError) as error:
        call(chain)
    assert error.value.code == code
    assert chain.height == 0
    assert chain.mempool == {}


def test_state_file_restores_blocks_mempool_and_survives_a_torn_line(tmp_path):
    state = tmp_path / "chain.jsonl"
    chain = Chain(state)
    chain.mine(3)
    confirmed = chain.pay([(_regtest_p2wpkh(b"a"), 1000)])
    chain.mine(1)
    dropped = chain.pay([(_regtest_p2wpkh(b"b"), 2000)])
    chain.drop(dropped["txid"])
    chain.reorg(2, keep_txs=True)
    pending = chain.pay([(_regtest_p2wpkh(b"c"), 3000)])
    with state.open("a") as handle:
        handle.write('{"op": "block", "head')  # a crash mid-append

    restored = Chain(state)
    assert [block.raw_header for block in restored.blocks] == [block.raw_header for block in chain.blocks]
    assert list(restored.mempool) == [pending["txid"]]
    assert restored.tx_info(confirmed["txid"]) == chain.tx_info(confirmed["txid"])
    assert restored.get_raw_tx(dropped["txid"]) is None
    # Restoring compacts the log: one line per tx and per block, nothing for the drop and reorg.
    lines = [json.loads(line) for line in state.read_text().splitlines()]
    assert [line["op"] for line in lines].count("block") == 4
    assert "drop" not in {line["op"] for line in lines} and "disconnect" not in {line["op"] for line in lines}
    # And it keeps working after a restore.
    restored.mine(1)
    assert Chain(state).tip.hash == restored.tip.hash


def test_state_file_that_does_not_extend_genesis_is_refused(tmp_path):
    state = tmp_path / "chain.jsonl"
    chain = Chain(state)
    chain.mine(1)
    lines = state.read_text().splitlines()
    record = json.loads(lines[0])
    record["header"] = "00" * 4 + "11" * 32 + record["header"][72:]
    state.write_text(json.dumps(record) + "\n")
    with pytest.raises(StateFileError):
        Chain(state)
