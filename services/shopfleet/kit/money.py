"""Money as integer minor units plus an ISO 4217 currency code. Never floats."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# Active ISO 4217 codes, by number of minor-unit digits (most have two).
_ZERO_DIGITS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DIGITS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DIGITS = "CLF UYW"
_TWO_DIGITS = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD "
    "FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD "
    "KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD "
    "NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP "
    "SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED "
    "VES WST XCD XCG YER ZAR ZMW ZWG"
)

MINOR_UNITS: dict[str, int] = {
    **{code: 0 for code in _ZERO_DIGITS.split()},
    **{code: 2 for code in _TWO_DIGITS.split()},
    **{code: 3 for code in _THREE_DIGITS.split()},
    **{code: 4 for code in _FOUR_DIGITS.split()},
}

# The largest amount we accept in minor units: ample for a shop, far inside int64.
MAX_AMOUNT = 10**13

# The largest amount one card payment can charge: Stripe takes at most eight digits of minor
# units (99,999,999: 999,999.99 EUR) in most currencies, twelve in IDR. An order's total
# must fit, or it could never be paid.
MAX_CHARGE = 99_999_999
_MAX_CHARGE_BY_CURRENCY = {"IDR": 999_999_999_999}


def check_currency(code: str) -> str:
    if code not in MINOR_UNITS:
        raise ValueError(f"'{code}' is not an ISO 4217 currency code (use e.g. EUR, USD, JPY)")
    return code


Currency = Annotated[
    str,
    Field(min_length=3, max_length=3, pattern="^[A-Z]{3}$", examples=["EUR"]),
    AfterValidator(check_currency),
]
Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT, description="Amount in minor units (cents).")]


class Money(BaseModel):
    """An amount in minor units of a currency: `{"amount": 1999, "currency": "EUR"}` is €19.99."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: Amount
    currency: Currency

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def times(self, quantity: int) -> Money:
        return Money(amount=self.amount * quantity, currency=self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    @classmethod
    def zero(cls, currency: str) -> Self:
        return cls(amount=0, currency=currency)

    def __str__(self) -> str:
        digits = MINOR_UNITS[self.currency]
        if digits == 0:
            return f"{self.amount} {self.currency}"
        whole, frac = divmod(self.amount, 10**digits)
        return f"{whole}.{frac:0{digits}d} {self.currency}"


def max_charge(currency: str) -> Money:
    """The most one card payment can charge in `currency`."""
    return Money(amount=_MAX_CHARGE_BY_CURRENCY.get(currency, MAX_CHARGE), currency=currency)
