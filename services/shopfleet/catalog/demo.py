"""A believable demo catalog for `shopfleet up`: categories, products, generated images.

Plain data plus one image generator; the seeding (which calls the public APIs of
categories and catalog) lives in `shopfleet.seed`. Prices are minor units of EUR, the
demo shop's currency. Images are made with Pillow at seed time, the same bytes for the
same product every time.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageChops, ImageDraw, ImageFont


@dataclass(frozen=True, slots=True)
class DemoCategory:
    name: str
    slug: str
    parent: str | None = None  # the parent's slug


@dataclass(frozen=True, slots=True)
class DemoProduct:
    name: str
    sku: str
    price: int
    category: str  # a DemoCategory slug
    stock: int
    description: str
    attributes: dict[str, str] = field(default_factory=dict)
    compare_at: int | None = None


CATEGORIES: list[DemoCategory] = [
    DemoCategory("Kitchen", "kitchen"),
    DemoCategory("Mugs & Cups", "mugs-cups", "kitchen"),
    DemoCategory("Tea & Coffee", "tea-coffee", "kitchen"),
    DemoCategory("Cookware", "cookware", "kitchen"),
    DemoCategory("Home", "home"),
    DemoCategory("Lighting", "lighting", "home"),
    DemoCategory("Textiles", "textiles", "home"),
    DemoCategory("Outdoor", "outdoor"),
    DemoCategory("Garden", "garden", "outdoor"),
    DemoCategory("Camping", "camping", "outdoor"),
    DemoCategory("Stationery", "stationery"),
]

_P = DemoProduct
PRODUCTS: list[DemoProduct] = [
    _P(
        "Stoneware Mug",
        "MUG-STONE-350",
        1490,
        "mugs-cups",
        42,
        "A hand-glazed 350 ml stoneware mug that keeps coffee warm and sits well in the hand.",
        {"capacity": "350 ml", "material": "stoneware", "dishwasher safe": "yes"},
    ),
    _P(
        "Enamel Camp Mug",
        "MUG-ENAMEL-300",
        1190,
        "mugs-cups",
        60,
        "Classic enamel over steel: light, tough, and happy on a camp stove.",
        {"capacity": "300 ml", "material": "enamelled steel", "color": "white/blue rim"},
    ),
    _P(
        "Double-Walled Glass Cup",
        "CUP-GLASS-DW-250",
        1690,
        "mugs-cups",
        35,
        "Borosilicate glass with an insulating air gap: hot tea, cool fingers.",
        {"capacity": "250 ml", "material": "borosilicate glass"},
        1990,
    ),
    _P(
        "Espresso Cup Set (4)",
        "CUP-ESPRESSO-4",
        2890,
        "mugs-cups",
        18,
        "Four thick-walled porcelain cups with saucers for a proper crema.",
        {"pieces": "4 cups, 4 saucers", "capacity": "80 ml", "material": "porcelain"},
    ),
    _P(
        "Travel Tumbler",
        "TUMBLER-TRAVEL-450",
        2490,
        "mugs-cups",
        4,
        "Vacuum-insulated tumbler with a leak-proof lid; hot for 6 hours, cold for 12.",
        {"capacity": "450 ml", "material": "stainless steel", "color": "forest green"},
    ),
    _P(
        "Sencha Green Tea",
        "TEA-SENCHA-100",
        1250,
        "tea-coffee",
        80,
        "First-flush Japanese sencha with a bright, grassy cup. Loose leaf, 100 g.",
        {"weight": "100 g", "origin": "Shizuoka, Japan", "caffeine": "medium"},
    ),
    _P(
        "Earl Grey Supreme",
        "TEA-EARLGREY-100",
        990,
        "tea-coffee",
        65,
        "Black tea scented with bergamot and a touch of cornflower.",
        {"weight": "100 g", "origin": "Sri Lanka", "caffeine": "high"},
    ),
    _P(
        "Rooibos Vanilla",
        "TEA-ROOIBOS-100",
        890,
        "tea-coffee",
        3,
        "Caffeine-free South African rooibos with real vanilla pieces.",
        {"weight": "100 g", "origin": "South Africa", "caffeine": "none"},
    ),
    _P(
        "Single-Origin Espresso Beans",
        "COF-ESP-ETH-250",
        1450,
        "tea-coffee",
        50,
        "Washed Ethiopian beans, medium roast: notes of jasmine, peach and dark chocolate.",
        {"weight": "250 g", "origin": "Yirgacheffe, Ethiopia", "roast": "medium"},
    ),
    _P(
        "House Blend Filter Coffee",
        "COF-FILTER-500",
        1690,
        "tea-coffee",
        0,
        "A round, nutty everyday blend for filter and French press.",
        {"weight": "500 g", "roast": "medium-dark", "grind": "whole bean"},
        1890,
    ),
    _P(
        "Pour-Over Dripper",
        "COF-DRIPPER-02",
        2290,
        "tea-coffee",
        22,
        "Ceramic cone dripper with spiral ribs for an even extraction.",
        {"material": "ceramic", "fits": "size 02 filters"},
    ),
    _P(
        "Cast Iron Skillet 26 cm",
        "PAN-CASTIRON-26",
        4990,
        "cookware",
        12,
        "Pre-seasoned cast iron that goes from hob to oven to table and lasts a lifetime.",
        {"diameter": "26 cm", "material": "cast iron", "induction": "yes"},
    ),
    _P(
        "Carbon Steel Wok",
        "PAN-WOK-32",
        3990,
        "cookware",
        9,
        "Light, fast-heating carbon steel wok with a wooden handle.",
        {"diameter": "32 cm", "material": "carbon steel"},
    ),
    _P(
        "Dutch Oven 4 L",
        "POT-DUTCH-4L",
        8990,
        "cookware",
        6,
        "Enamelled cast iron casserole for slow braises and crusty bread.",
        {"capacity": "4 l", "material": "enamelled cast iron", "color": "cherry red"},
        10990,
    ),
    _P(
        "Chef's Knife 20 cm",
        "KNIFE-CHEF-20",
        6490,
        "cookware",
        15,
        "Forged stainless steel with a full tang and a comfortable olive-wood handle.",
        {"blade": "20 cm", "steel": "X50CrMoV15", "handle": "olive wood"},
    ),
    _P(
        "Linen Table Lamp",
        "LAMP-TABLE-LINEN",
        5990,
        "lighting",
        14,
        "A warm, diffused light under a natural linen shade on a turned oak base.",
        {"height": "45 cm", "bulb": "E27, max 40 W", "shade": "linen"},
    ),
    _P(
        "Brass Reading Light",
        "LAMP-READ-BRASS",
        8490,
        "lighting",
        7,
        "Adjustable arm, dimmable LED, brushed brass finish.",
        {"height": "120 cm", "bulb": "integrated LED, 8 W", "dimmable": "yes"},
    ),
    _P(
        "Paper Pendant Shade",
        "LAMP-PENDANT-PAPER",
        3490,
        "lighting",
        25,
        "Hand-folded rice-paper shade that turns any bulb into a soft glow.",
        {"diameter": "50 cm", "material": "rice paper"},
    ),
    _P(
        "Solar String Lights",
        "LIGHT-STRING-SOLAR",
        2490,
        "lighting",
        2,
        "Twenty warm-white bulbs on a 6 m cable, charged by the sun.",
        {"length": "6 m", "bulbs": "20", "power": "solar"},
    ),
    _P(
        "Wool Throw Blanket",
        "TEX-THROW-WOOL",
        7990,
        "textiles",
        11,
        "Soft merino blend throw with a herringbone weave.",
        {"size": "130 × 170 cm", "material": "80% merino wool, 20% cotton"},
        9490,
    ),
    _P(
        "Linen Tea Towels (2)",
        "TEX-TOWEL-LINEN-2",
        1890,
        "textiles",
        40,
        "Absorbent, quick-drying stonewashed linen; gets softer with every wash.",
        {"size": "50 × 70 cm", "pieces": "2", "material": "linen"},
    ),
    _P(
        "Cotton Cushion Cover",
        "TEX-CUSHION-45",
        2290,
        "textiles",
        33,
        "Heavy cotton canvas cover with a hidden zip.",
        {"size": "45 × 45 cm", "material": "cotton canvas", "color": "ochre"},
    ),
    _P(
        "Bamboo Bath Mat",
        "TEX-BATHMAT-BAMBOO",
        2990,
        "textiles",
        19,
        "Slatted bamboo mat that dries quickly and never gets soggy.",
        {"size": "50 × 80 cm", "material": "bamboo"},
    ),
    _P(
        "Ash Wood Garden Trowel",
        "GARD-TROWEL-ASH",
        1990,
        "garden",
        27,
        "Stainless steel blade with depth markings on a smooth ash handle.",
        {"length": "31 cm", "material": "stainless steel, ash wood"},
    ),
    _P(
        "Galvanised Watering Can",
        "GARD-CAN-5L",
        3490,
        "garden",
        16,
        "A proper 5 litre can with a brass rose for a gentle shower.",
        {"capacity": "5 l", "material": "galvanised steel"},
    ),
    _P(
        "Heirloom Tomato Seeds",
        "GARD-SEED-TOMATO",
        390,
        "garden",
        150,
        "A mix of five heirloom varieties: yellow pear, black krim, brandywine and more.",
        {"seeds": "about 50", "sowing": "February to April"},
    ),
    _P(
        "Raised Bed Planter",
        "GARD-BED-120",
        11990,
        "garden",
        5,
        "Untreated larch raised bed, easy to assemble without tools.",
        {"size": "120 × 60 × 40 cm", "material": "larch wood"},
        13990,
    ),
    _P(
        "Ultralight Tent 2P",
        "CAMP-TENT-2P",
        24990,
        "camping",
        8,
        "A freestanding two-person tent at 1.4 kg with two doors and two vestibules.",
        {"weight": "1.4 kg", "capacity": "2 people", "season": "3-season"},
    ),
    _P(
        "Down Sleeping Bag",
        "CAMP-BAG-DOWN",
        18990,
        "camping",
        10,
        "Responsibly sourced 700-fill down, comfortable to 2 °C.",
        {"comfort": "2 °C", "weight": "850 g", "fill": "700 fill-power down"},
    ),
    _P(
        "Titanium Spork",
        "CAMP-SPORK-TI",
        990,
        "camping",
        120,
        "The only cutlery you need outdoors: 18 g of titanium.",
        {"weight": "18 g", "material": "titanium"},
    ),
    _P(
        "Headlamp 400 lm",
        "CAMP-HEADLAMP-400",
        3990,
        "camping",
        1,
        "Rechargeable headlamp with red light mode and a lock-out switch.",
        {"output": "400 lumen", "battery": "USB-C rechargeable", "waterproof": "IPX4"},
    ),
    _P(
        "Dotted Notebook A5",
        "STAT-NOTE-A5-DOT",
        1490,
        "stationery",
        70,
        "Lay-flat binding, 160 numbered pages of 100 g/m² paper that fountain pens love.",
        {"size": "A5", "pages": "160", "paper": "100 g/m², dotted"},
    ),
    _P(
        "Fountain Pen, Fine Nib",
        "STAT-PEN-FOUNTAIN-F",
        3290,
        "stationery",
        13,
        "A steel-nib fountain pen with a piston converter and a cartridge to start.",
        {"nib": "fine", "filling": "cartridge/converter", "color": "matte black"},
    ),
    _P(
        "Brass Pencil Sharpener",
        "STAT-SHARP-BRASS",
        690,
        "stationery",
        45,
        "A solid brass wedge that sharpens pencils to a perfect point for decades.",
        {"material": "brass"},
    ),
]


# Shipping weight of one unit in grams, packaging included, by SKU.
WEIGHTS: dict[str, int] = {
    "MUG-STONE-350": 450,
    "MUG-ENAMEL-300": 250,
    "CUP-GLASS-DW-250": 300,
    "CUP-ESPRESSO-4": 1100,
    "TUMBLER-TRAVEL-450": 400,
    "TEA-SENCHA-100": 150,
    "TEA-EARLGREY-100": 150,
    "TEA-ROOIBOS-100": 150,
    "COF-ESP-ETH-250": 300,
    "COF-FILTER-500": 560,
    "COF-DRIPPER-02": 450,
    "PAN-CASTIRON-26": 2700,
    "PAN-WOK-32": 1600,
    "POT-DUTCH-4L": 5200,
    "KNIFE-CHEF-20": 350,
    "LAMP-TABLE-LINEN": 1800,
    "LAMP-READ-BRASS": 3900,
    "LAMP-PENDANT-PAPER": 600,
    "LIGHT-STRING-SOLAR": 500,
    "TEX-THROW-WOOL": 1200,
    "TEX-TOWEL-LINEN-2": 350,
    "TEX-CUSHION-45": 400,
    "TEX-BATHMAT-BAMBOO": 1500,
    "GARD-TROWEL-ASH": 350,
    "GARD-CAN-5L": 1400,
    "GARD-SEED-TOMATO": 30,
    "GARD-BED-120": 14500,
    "CAMP-TENT-2P": 1700,
    "CAMP-BAG-DOWN": 1100,
    "CAMP-SPORK-TI": 40,
    "CAMP-HEADLAMP-400": 200,
    "STAT-NOTE-A5-DOT": 420,
    "STAT-PEN-FOUNTAIN-F": 120,
    "STAT-SHARP-BRASS": 60,
}


def product_request(product: DemoProduct, category_ids: Mapping[str, str]) -> dict[str, Any]:
    """The `POST /products` body for a demo product, given the categories' ids by slug."""
    body: dict[str, Any] = {
        "name": product.name,
        "sku": product.sku,
        "description": product.description,
        "price": {"amount": product.price, "currency": "EUR"},
        "attributes": product.attributes,
        "on_hand": product.stock,
        "weight_grams": WEIGHTS.get(product.sku, 0),
    }
    body["category_ids"] = (
        [category_ids[product.category]] if product.category in category_ids else []
    )
    if product.compare_at is not None:
        body["compare_at_amount"] = product.compare_at
    return body


def _colors(key: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Two colors of neighbouring hues, picked by the key."""
    hue = hashlib.sha256(key.encode()).digest()[0] / 256

    def rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
        r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
        return round(r * 255), round(g * 255), round(b * 255)

    return rgb(hue, 0.45, 0.92), rgb(hue + 0.1, 0.8, 0.55)


def initials(name: str) -> str:
    words = [w for w in name.replace("-", " ").split() if w[:1].isalnum()]
    return "".join(w[0] for w in words[:2]).upper() or "?"


def product_image(product: DemoProduct, size: int = 640) -> bytes:
    """A JPEG card: a gradient in the product's colors with its initials; deterministic."""
    start, end = _colors(product.sku)
    vertical = Image.linear_gradient("L").resize((size, size))
    mask = ImageChops.add(vertical, vertical.transpose(Image.Transpose.TRANSPOSE), scale=2)
    card = Image.composite(
        Image.new("RGB", (size, size), end), Image.new("RGB", (size, size), start), mask
    )
    draw = ImageDraw.Draw(card)
    margin = size // 8
    draw.ellipse(
        (margin, margin, size - margin, size - margin), outline=(255, 255, 255), width=size // 80
    )
    font = ImageFont.load_default(size=size // 3)
    draw.text(
        (size / 2, size / 2), initials(product.name), font=font, fill=(255, 255, 255), anchor="mm"
    )
    caption = ImageFont.load_default(size=size // 20)
    draw.text(
        (size / 2, size - margin / 2), product.name, font=caption, fill=(255, 255, 255), anchor="mm"
    )
    out = io.BytesIO()
    card.save(out, "JPEG", quality=85)
    return out.getvalue()
