"""bincode 2 "standard" encoding as kassa uses it (docs/protocol.md §2).

Little endian, varint integers, zigzag for signed ones, no field names. Every `Wire` writes a
value (validating it first: a bad value raises `ValidationError` before anything is sent) and
reads one strictly (every malformed input raises a specific `DecodeError`).
"""

from __future__ import annotations

import dataclasses
import enum
import re
import struct
import typing
from typing import Any, Callable, ClassVar, Dict, List, Tuple, Type

from .errors import (
    InvalidBoolError,
    InvalidOptionTagError,
    InvalidUtf8Error,
    InvalidValueError,
    InvalidVarintError,
    TruncatedError,
    UnknownVariantError,
    ValidationError,
)

SINGLE_BYTE_MAX = 250
U16_MARKER, U32_MARKER, U64_MARKER = 0xFB, 0xFC, 0xFD


# ----- primitives -----------------------------------------------------------------------------


def write_varint(out: bytearray, value: int) -> None:
    """Appends `value` (0..2^64-1) as a varint in its shortest form."""
    if value <= SINGLE_BYTE_MAX:
        out.append(value)
    elif value <= 0xFFFF:
        out.append(U16_MARKER)
        out += struct.pack("<H", value)
    elif value <= 0xFFFF_FFFF:
        out.append(U32_MARKER)
        out += struct.pack("<I", value)
    else:
        out.append(U64_MARKER)
        out += struct.pack("<Q", value)


def zigzag(value: int, bits: int) -> int:
    """Maps a signed integer onto an unsigned one: 0->0, -1->1, 1->2, -2->3."""
    return (value << 1) ^ (value >> (bits - 1)) if value < 0 else value << 1


def unzigzag(value: int) -> int:
    """The inverse of `zigzag`."""
    return (value >> 1) if value % 2 == 0 else -((value + 1) >> 1)


class Reader:
    """A cursor over bytes that refuses to read past their end."""

    def __init__(self, data: bytes) -> None:
        self.data = bytes(data)
        self.position = 0

    def remaining(self) -> int:
        return len(self.data) - self.position

    def take(self, count: int) -> bytes:
        if count > self.remaining():
            raise TruncatedError(f"need {count} bytes at offset {self.position}, {self.remaining()} left")
        chunk = self.data[self.position : self.position + count]
        self.position += count
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def varint(self, bits: int) -> int:
        """Reads a varint of an unsigned type of `bits` (16, 32 or 64) bits."""
        marker = self.byte()
        if marker <= SINGLE_BYTE_MAX:
            return marker
        if marker == U16_MARKER:
            return struct.unpack("<H", self.take(2))[0]
        if marker == U32_MARKER and bits >= 32:
            return struct.unpack("<I", self.take(4))[0]
        if marker == U64_MARKER and bits >= 64:
            return struct.unpack("<Q", self.take(8))[0]
        raise InvalidVarintError(f"varint marker 0x{marker:02x} is not allowed for a u{bits}")

    def length(self) -> int:
        """A collection length (a u64 varint) that cannot exceed the bytes left: every element
        takes at least one byte, so a hostile length never makes anything allocate."""
        count = self.varint(64)
        if count > self.remaining():
            raise TruncatedError(f"length {count} exceeds the {self.remaining()} bytes left")
        return count


# ----- wire types -----------------------------------------------------------------------------


class Wire:
    """How one type is written and read."""

    def write(self, out: bytearray, value: Any, path: str) -> None:
        raise NotImplementedError

    def read(self, src: Reader) -> Any:
        raise NotImplementedError


def _require_int(value: Any, low: int, high: int, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{path}: expected an integer, got {value!r}")
    if not low <= value <= high:
        raise ValidationError(f"{path}: {value} is outside {low}..={high}")
    return int(value)


class UInt(Wire):
    """u8 (raw byte), u16, u32, u64 (varints)."""

    def __init__(self, bits: int) -> None:
        self.bits = bits

    def write(self, out: bytearray, value: Any, path: str) -> None:
        number = _require_int(value, 0, (1 << self.bits) - 1, path)
        if self.bits == 8:
            out.append(number)
        else:
            write_varint(out, number)

    def read(self, src: Reader) -> int:
        return src.byte() if self.bits == 8 else src.varint(self.bits)


class SInt(Wire):
    """i32, i64: zigzag, then a varint of the unsigned type of the same width."""

    def __init__(self, bits: int) -> None:
        self.bits = bits

    def write(self, out: bytearray, value: Any, path: str) -> None:
        half = 1 << (self.bits - 1)
        write_varint(out, zigzag(_require_int(value, -half, half - 1, path), self.bits))

    def read(self, src: Reader) -> int:
        return unzigzag(src.varint(self.bits))


class BoolWire(Wire):
    def write(self, out: bytearray, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            raise ValidationError(f"{path}: expected a bool, got {value!r}")
        out.append(1 if value else 0)

    def read(self, src: Reader) -> bool:
        tag = src.byte()
        if tag > 1:
            raise InvalidBoolError(f"bool byte 0x{tag:02x}")
        return tag == 1


class StringWire(Wire):
    """A varint byte length, then UTF-8."""

    def write(self, out: bytearray, value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise ValidationError(f"{path}: expected a string, got {value!r}")
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValidationError(f"{path}: not encodable as UTF-8: {error}") from None
        write_varint(out, len(data))
        out += data

    def read(self, src: Reader) -> str:
        data = src.take(src.length())
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidUtf8Error(str(error)) from None


class CheckedString(StringWire):
    """A string with a constraint checked on both sides (Id, Decimal)."""

    def __init__(self, check: Callable[[str], str]) -> None:
        self.check = check  # returns an error text, or "" when valid

    def write(self, out: bytearray, value: Any, path: str) -> None:
        if isinstance(value, str) and self.check(value):
            raise ValidationError(f"{path}: {self.check(value)}")
        super().write(out, value, path)

    def read(self, src: Reader) -> str:
        text = super().read(src)
        problem = self.check(text)
        if problem:
            raise InvalidValueError(problem)
        return text


class FixedBytes(Wire):
    """`[u8; N]`: N raw bytes, no length."""

    def __init__(self, size: int) -> None:
        self.size = size

    def write(self, out: bytearray, value: Any, path: str) -> None:
        if not isinstance(value, (bytes, bytearray)) or len(value) != self.size:
            raise ValidationError(f"{path}: expected exactly {self.size} bytes")
        out += value

    def read(self, src: Reader) -> bytes:
        return src.take(self.size)


class ByteVec(Wire):
    """`Vec<u8>`: a varint count, then the raw bytes."""

    def write(self, out: bytearray, value: Any, path: str) -> None:
        if not isinstance(value, (bytes, bytearray)):
            raise ValidationError(f"{path}: expected bytes, got {type(value).__name__}")
        write_varint(out, len(value))
        out += value

    def read(self, src: Reader) -> bytes:
        return src.take(src.length())


class Opt(Wire):
    """`Option<T>`: 00 for None, 01 then the value for Some."""

    def __init__(self, inner: Wire) -> None:
        self.inner = inner

    def write(self, out: bytearray, value: Any, path: str) -> None:
        if value is None:
            out.append(0)
        else:
            out.append(1)
            self.inner.write(out, value, path)

    def read(self, src: Reader) -> Any:
        tag = src.byte()
        if tag > 1:
            raise InvalidOptionTagError(f"Option tag 0x{tag:02x}")
        return self.inner.read(src) if tag == 1 else None


class Seq(Wire):
    """`Vec<T>`: a varint count, then each element."""

    def __init__(self, inner: Wire) -> None:
        self.inner = inner

    def write(self, out: bytearray, value: Any, path: str) -> None:
        if not isinstance(value, (list, tuple)):
            raise ValidationError(f"{path}: expected a list, got {type(value).__name__}")
        write_varint(out, len(value))
        for index, element in enumerate(value):
            self.inner.write(out, element, f"{path}[{index}]")

    def read(self, src: Reader) -> List[Any]:
        return [self.inner.read(src) for _ in range(src.length())]


class UnitEnum(Wire):
    """An enum of unit variants, as a Python IntEnum whose values are the variant indices."""

    def __init__(self, enum_type: Type[enum.IntEnum]) -> None:
        self.enum_type = enum_type

    def write(self, out: bytearray, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value not in self.enum_type._value2member_map_:
            raise ValidationError(f"{path}: not a {self.enum_type.__name__}: {value!r}")
        write_varint(out, int(value))

    def read(self, src: Reader) -> enum.IntEnum:
        index = src.varint(32)
        if index not in self.enum_type._value2member_map_:
            raise UnknownVariantError(f"{self.enum_type.__name__} has no variant {index}")
        return self.enum_type(index)


# ----- structs and enums with data, described by dataclass annotations -----------------------


def field_wires(cls: type) -> List[Tuple[str, Wire]]:
    """The (field name, Wire) pairs of a dataclass, in declaration order, read from annotations
    of the form `Annotated[python_type, wire]` (cached on the class)."""
    cached = cls.__dict__.get("_wire_fields")
    if cached is not None:
        return cached
    hints = typing.get_type_hints(cls, include_extras=True)
    result = []
    for field in dataclasses.fields(cls):
        metadata = getattr(hints[field.name], "__metadata__", ())
        wires = [item for item in metadata if isinstance(item, Wire)]
        if not wires:
            raise TypeError(f"{cls.__name__}.{field.name} has no wire type")
        result.append((field.name, wires[0]))
    setattr(cls, "_wire_fields", result)
    return result


def write_fields(out: bytearray, value: Any, path: str) -> None:
    for name, wire in field_wires(type(value)):
        wire.write(out, getattr(value, name), f"{path}.{name}")


def read_fields(cls: type, src: Reader) -> Any:
    return cls(*[wire.read(src) for _, wire in field_wires(cls)])


class Struct(Wire):
    """A struct: its fields in declaration order. `cls` may be a zero-argument callable returning
    the class, for types declared later."""

    def __init__(self, cls: Any) -> None:
        self._cls = cls

    @property
    def cls(self) -> type:
        return self._cls if isinstance(self._cls, type) else self._cls()

    def write(self, out: bytearray, value: Any, path: str) -> None:
        if type(value) is not self.cls:
            raise ValidationError(f"{path}: expected {self.cls.__name__}, got {type(value).__name__}")
        write_fields(out, value, path)

    def read(self, src: Reader) -> Any:
        return read_fields(self.cls, src)


class Variant:
    """Base of an enum's variant classes; subclasses of one base are its variants.
    `VARIANT` is the wire index; the base keeps `VARIANTS`, index -> class."""

    VARIANT: ClassVar[int] = -1
    VARIANTS: ClassVar[Dict[int, type]]

    @classmethod
    def enum_base(cls) -> type:
        return next(base for base in cls.__mro__ if "VARIANTS" in base.__dict__)


def variant(index: int) -> Callable[[type], type]:
    """Class decorator: registers a dataclass as variant `index` of its enum base."""

    def register(cls: type) -> type:
        base = cls.enum_base()
        if index in base.VARIANTS:
            raise TypeError(f"{base.__name__} variant {index} registered twice")
        cls.VARIANT = index
        base.VARIANTS[index] = cls
        return cls

    return register


class EnumOf(Wire):
    """An enum with data: variant index (u32 varint), then the variant's fields in order."""

    def __init__(self, base: Any) -> None:
        self._base = base

    @property
    def base(self) -> type:
        return self._base if isinstance(self._base, type) else self._base()

    def write(self, out: bytearray, value: Any, path: str) -> None:
        base = self.base
        if not isinstance(value, base) or base.VARIANTS.get(type(value).VARIANT) is not type(value):
            raise ValidationError(f"{path}: expected a {base.__name__}, got {type(value).__name__}")
        write_varint(out, type(value).VARIANT)
        write_fields(out, value, f"{path}.{type(value).__name__}")

    def read(self, src: Reader) -> Any:
        base = self.base
        index = src.varint(32)
        cls = base.VARIANTS.get(index)
        if cls is None:
            raise UnknownVariantError(f"{base.__name__} has no variant {index}")
        return read_fields(cls, src)


# ----- shared instances -----------------------------------------------------------------------

U8, U16, U32, U64 = UInt(8), UInt(16), UInt(32), UInt(64)
I32, I64 = SInt(32), SInt(64)
BOOL = BoolWire()
STRING = StringWire()
BYTES = ByteVec()

_DECIMAL_PATTERN = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
DECIMAL_DIGITS_MAX = 28


def decimal_problem(text: str) -> str:
    """Why `text` is not a decimal the engine parses ("" when it is one): plain decimal
    notation (`12.5`, `-3`), at most 28 digits (rust_decimal's precision). Stricter than the
    server on purpose: a value it refused would close the connection."""
    if not _DECIMAL_PATTERN.fullmatch(text):
        return f"not a decimal number: {text!r}"
    if sum(character in "0123456789" for character in text) > DECIMAL_DIGITS_MAX:
        return f"more than {DECIMAL_DIGITS_MAX} digits: {text!r}"
    return ""


DECIMAL = CheckedString(decimal_problem)
