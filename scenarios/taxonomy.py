"""The scenario taxonomy: themes per scene, modifier pools, persona sections, anchor ranges.

Restated from the EIBench paper's description of how scenarios were made (spec section 7). The
pack writer, the generator and the quality gates all read these tables.
"""

from __future__ import annotations

THEMES: dict[str, tuple[str, ...]] = {
    "support": ("grief", "failure", "anxiety", "loneliness", "burnout", "venting", "life decision"),
    "defense": ("unreasonable demand", "blame", "threat", "guilt-tripping", "control",
                "provocation", "hard sell"),
    "repair": ("work gap", "neglect", "social misstep", "broken promise", "service failure"),
    "charm": ("ice-breaking", "flirting", "deepening", "professional charm", "romance"),
}

RELATIONSHIPS = ("stranger", "acquaintance", "close friend", "partner", "family",
                 "colleague or boss", "service")
PLACES = ("phone", "video call", "home", "cafe or restaurant", "office", "service venue",
          "outdoors or event", "car", "travel", "party", "campus")
INTENSITIES = ("mild discontent", "irritated", "upset", "angry", "very angry", "furious",
               "distraught", "breakdown")
CHARM_INTENSITIES = ("playful teasing", "cool and testing", "guarded politeness", "mild curiosity",
                     "light banter", "friendly interest", "warm openness", "pleasant talk")
PERSONALITIES = ("introverted-conservative", "extroverted-aggressive", "rational-analytical",
                 "emotional-impulsive", "traditional", "modern-open", "dominant",
                 "gentle-compromising", "perfectionist", "pragmatist")

MODIFIER_POOLS: dict[str, tuple[str, ...]] = {
    "relationship": RELATIONSHIPS,
    "place": PLACES,
    "intensity": INTENSITIES,
    "personality": PERSONALITIES,
}


def intensity_pool(scene: str) -> tuple[str, ...]:
    """Charm has its own eight intensity levels; the other scenes share one scale."""
    return CHARM_INTENSITIES if scene == "charm" else INTENSITIES


# Persona section headings, in order, by language.
USER_SECTIONS: dict[str, tuple[str, ...]] = {
    "en": ("Background", "Role and stance", "Speaking style and personality", "Facts you know",
           "Behaviour logic and preferences", "Your goal"),
    "zh": ("背景", "你的角色与立场", "说话风格与性格", "你知道的事实", "行为逻辑与偏好", "你的目的"),
}
AGENT_SECTIONS: dict[str, tuple[str, ...]] = {
    "en": ("Background", "Role and stance", "Facts you know", "Core goal"),
    "zh": ("背景", "你的角色与立场", "你知道的事实", "你的核心目标"),
}

# Success-anchor ranges per scene (inclusive): (anger low, anger high), (trust low, trust high).
SUCCESS_RANGES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "defense": ((20, 40), (40, 60)),
    "repair": ((10, 30), (60, 80)),
    "support": ((30, 50), (70, 90)),
    "charm": ((0, 20), (50, 70)),
}

# Official test-split proportions (charm 46, defense 64, repair 52, support 51 of 213).
OFFICIAL_TEST_COUNTS = {"charm": 46, "defense": 64, "repair": 52, "support": 51}
