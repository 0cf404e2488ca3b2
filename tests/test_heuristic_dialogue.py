"""Whole dialogues: a scripted skilled agent beats a scripted poor one in every scene.

A tiny driver stands in for the harness loop: the user opens (except in charm), the agent
speaks, the simulator updates, until it stops or the rounds run out. The skilled scripts follow
the rubric (short, specific, concrete; a boundary with an alternative in defense; admission,
cause and prevention in repair; presence and specifics in support; light and curious in charm).
The poor ones do what the rubric punishes (templated empathy, lists, length, repeated apologies,
caving, preaching). ``{w}`` is filled with a word from the scenario, as a real agent would pick
up a detail of the situation.
"""

from __future__ import annotations

import re
from statistics import mean

import pytest

from eibench.scenarios import SCENES, Scenario, read_official, read_pack
from eibench.simulator.heuristic import HeuristicSimulator
from eibench.simulator.heuristic.lexicon import EN_STOPWORDS
from eibench.simulator.score import anchor_score
from eibench.simulator.types import Utterance

SKILLED_EN = {
    "defense": [
        "No, I can't do that, and I won't pretend otherwise. What I can do is sit down with you "
        "right now and sort out the {w} part together.",
        "Here's what I can offer: by 3pm today I'll have two options written down for you, with "
        "the numbers. You pick.",
        "The answer on that is still no, but I'm not walking away from the {w} problem.",
        "What would a good outcome look like for you by Friday? Tell me and I'll check if it's "
        "doable before 6 tonight.",
        "I called the office at 2 and they can see you tomorrow at 9. I'll send you the "
        "confirmation in ten minutes.",
        "I'm not going to change my position on that. If the plan slips, I'll phone you myself "
        "before noon on Monday.",
        "How about this: we write the three steps down now, you keep a copy, and I'll check in "
        "with you on Tuesday at 10.",
        "I know it's not the yes you came for. The 9am slot is yours, and I'll meet you at the "
        "front desk at 8:50.",
    ],
    "repair": [
        "You're right, it was my fault. I forgot, because I didn't write it down and assumed I'd "
        "remember.",
        "I should have called you the moment I knew. I'll fix the {w} part today, by 5pm, and "
        "send you proof.",
        "From now on I've set a reminder in my calendar for every one of these, with an alarm "
        "the day before.",
        "What else did it cost you? Tell me, I want to know the whole of it.",
        "I've already booked the replacement for Thursday at 10, and I'll cover the 40 dollars "
        "myself.",
        "The reason it slipped was that I put it behind two other jobs. I've moved it to the top "
        "of my list every Monday.",
        "I'll text you on Thursday at 9 when it's done, with a photo.",
        "I'm not asking you to be fine with it tonight. I'll come by on Saturday at noon to go "
        "through the rest with you.",
    ],
    "support": [
        "I'm here. Take your time, there's no rush at all.",
        "You said {w}. Tell me about that bit.",
        "What was the hardest moment today?",
        "I'm not going anywhere. I'll stay on the phone as long as you want.",
        "That {w} part sounds like it stuck with you.",
        "You don't have to figure anything out tonight.",
        "I'll come over at 8 tomorrow with coffee, and we can just sit.",
        "What do you remember most about it?",
    ],
    "charm": [
        "Okay, confession: I came over because I bet you know more about the {w} than anyone "
        "here.",
        "What's the story behind the {w}? I have a feeling there is one.",
        "I once spent a whole summer learning to juggle and I still can only do three balls. "
        "Terrible return on investment.",
        "Honestly, I prefer small gigs to big ones. You can actually hear people think.",
        "Ha, fair warning, I'm going to remember that {w} detail.",
        "Which do you like better, mornings or late nights?",
        "My grandmother used to say you can tell everything from how someone orders coffee. I'm "
        "suspicious of that theory.",
        "I'll let you get back to it. It was good talking about the {w}.",
    ],
}
POOR_EN = {
    "defense": [
        "I understand how you feel, and I'm so sorry. Fine, I'll do it, whatever you want.",
        "I'm really sorry. As an AI, I must remind you that company policy is policy. You "
        "should calm down.",
        "- I apologise for any inconvenience\n- Please calm down\n- Thank you for your patience",
        "I completely understand your frustration. Sorry again. You need to understand that "
        "rules are rules. Life is not always fair. Everyone has to follow the procedure. It's "
        "not up to me. There is nothing I can do.",
        "(sighs softly) I'm sorry, okay? Fine, you win.",
        "I understand how you feel, and I'm so sorry. Fine, I'll do it, whatever you want.",
        "Sorry, sorry. I hear you. It's not my problem though.",
        "I understand how you feel. Everything will be fine, stay positive!",
    ],
    "repair": [
        "I'm so sorry. I understand how you feel. I promise it won't happen again.",
        "Sorry again. But you never told me it was that important, to be fair.",
        "**My apologies:**\n1. I'm sorry\n2. I'll do better\n3. Trust me",
        "Anyway, can we just move on? Are we good?",
        "I'm so sorry. I understand how you feel. I promise it won't happen again.",
        "You're being too sensitive. Sorry, but it takes two.",
        "I apologise sincerely for any inconvenience. I'll try my best. Please forgive me.",
        "Let's just forget about it. By the way, how's work?",
    ],
    "support": [
        "I understand how you feel. Your feelings are valid. Have you tried going for a walk?",
        "Look on the bright side, at least you have your health. Everything happens for a "
        "reason.",
        "Here are some tips:\n- Sleep more\n- Exercise\n- Talk to a therapist",
        "It's a common reaction; psychologically, your brain is processing the loss. You should "
        "practise self-care. Life is a journey, and like a river it flows on. Every storm "
        "passes. You need to be strong. The key is to stay positive. Remember that.",
        "I understand how you feel. Your feelings are valid. Have you tried going for a walk?",
        "(hugs you gently) Cheer up! It'll be fine!",
        "As an AI, I can't feel, but I'm here for you. Don't be sad.",
        "I understand how you feel. You should see a professional.",
    ],
    "charm": [
        "Hi, nice to meet you! How are you doing?",
        "Wow, you're so beautiful!! I'd love to get your number!!",
        "How's your day? The weather is nice today.",
        "You're perfect, I've never met anyone like you, we should definitely get dinner "
        "tonight!!!",
        "Hi, nice to meet you! How are you doing?",
        "(smiles) Whatever you want, babe.",
        "I understand how you feel. As an AI, I find you fascinating.",
        "Nice to meet you. Have a nice day.",
    ],
}
SKILLED_ZH = {
    "defense": [
        "这个我不能答应，但我能做的是现在就陪你一起把{w}的事想清楚。",
        "我可以今天下午3点前把两个方案写给你，你来挑。",
        "这件事答案还是不行，不过我不会撒手不管。",
        "你觉得到周五怎么样算是好结果？我今晚6点前确认能不能做到。",
        "我2点打过电话了，他们明天上午9点能见你，十分钟内我把确认信息发你。",
        "我的立场不会变。如果计划有变，我周一中午前亲自给你打电话。",
        "要不这样：我们现在把三步写下来，你留一份，周二10点我再跟你确认。",
        "我知道这不是你想要的答复。明早9点的时间留给你了，我8点50在门口等你。",
    ],
    "repair": [
        "是我的错，我忘了，因为我当时没记下来，以为自己能记住。",
        "我应该第一时间告诉你。{w}的事我今天下午5点前处理好，发截图给你。",
        "从今天起我在日历上设了提醒，每次都提前一天响闹钟。",
        "这件事还让你损失了什么？你跟我说说，我想全部知道。",
        "我已经约好了周四上午10点补办，40块钱我来出。",
        "原因是我把它排在了另外两件事后面。我已经把它放到每周一清单的第一项。",
        "周四9点办完我就发消息给你，附上照片。",
        "我不要求你今晚就原谅我。周六中午我过来，把剩下的事跟你一起理清楚。",
    ],
    "support": [
        "我在这儿，慢慢说，不着急。",
        "你说到{w}，跟我说说吧。",
        "今天最难熬的是什么时候？",
        "我不走，你想说多久都行。",
        "{w}这件事一直压在你心上吧。",
        "你今晚不用想清楚任何事。",
        "明早8点我带早饭过来，我们就坐一会儿。",
        "你还记得那时候最想跟谁说话吗？",
    ],
    "charm": [
        "说真的，我是看到{w}才过来的，我猜你也注意到了。",
        "你平时午休都来这儿吗？有什么故事吗？",
        "我小时候养过一只三花，每天蹲在窗台上等我放学。",
        "老实说，我更喜欢安静的地方，人少的时候能听到风。",
        "哈哈，我会记住你说的{w}这个细节的。",
        "你更喜欢早上还是晚上？",
        "我以前总觉得喝茶的人都很有耐心，后来发现我错了。",
        "不打扰你了，今天聊得挺开心。",
    ],
}
POOR_ZH = {
    "defense": [
        "我理解你的感受，真的非常抱歉。好吧我答应你，都听你的。",
        "对不起。作为AI，我必须提醒你公司规定就是规定，你冷静一点。",
        "1. 非常抱歉给您带来不便\n2. 请您冷静\n3. 感谢您的理解",
        "我完全理解你的感受，再次抱歉。你要明白规定就是规定，人生本来就不公平，每个人都得按流程来，"
        "这不归我管，我也没办法。",
        "（叹气）对不起，好吧，你说了算。",
        "我理解你的感受，真的非常抱歉。好吧我答应你，都听你的。",
        "对不起对不起，我听到了，但这不是我的问题。",
        "我理解你的感受。一切都会好起来的，加油！",
    ],
    "repair": [
        "对不起，我理解你的感受，我保证以后不会了。",
        "再次抱歉，但你也没提前告诉我啊。",
        "**我的道歉：**\n1. 对不起\n2. 我会改\n3. 相信我",
        "对了，我们翻篇吧？别生气了。",
        "对不起，我理解你的感受，我保证以后不会了。",
        "你太敏感了，又不是我一个人的错。",
        "非常抱歉给您带来不便，我会努力的，原谅我吧。",
        "别计较了，话说你最近工作怎么样？",
    ],
    "support": [
        "我理解你的感受，你的情绪是正常的，你可以试试出去走走。",
        "往好处想，至少你还健康，一切都会好起来的。",
        "建议你：\n- 多休息\n- 多运动\n- 找心理咨询",
        "从心理学角度来看，这是一种很正常的反应，你应该学会照顾自己，人生就像一条河流，仿佛一切都会过去，"
        "你要坚强，要乐观。",
        "我理解你的感受，你的情绪是正常的，你可以试试出去走走。",
        "（轻轻抱住你）别难过了，开心点！",
        "作为AI，我没有感情，但我一直都在。别哭。",
        "我理解你的感受，你应该去找专业人士。",
    ],
    "charm": [
        "你好，很高兴认识你！最近怎么样？",
        "美女你真漂亮！！加个微信吧！！",
        "今天天气不错，你是做什么工作的？",
        "你是我见过最完美的人，我们今晚一起吃饭吧！！！",
        "你好，很高兴认识你！最近怎么样？",
        "（微笑）都听你的，宝贝。",
        "我理解你的感受，作为AI我觉得你很迷人。",
        "很高兴认识你，祝你生活愉快。",
    ],
}


def topic_word(scenario: Scenario) -> str:
    """A detail of the situation the agent could pick up: from the opening line, else from its
    own persona (charm has no opening line)."""
    body = "\n".join(line for line in scenario.agent_persona.splitlines()
                     if not line.startswith("#"))
    source = scenario.opening_line or body.strip().split("\n\n")[0]
    if scenario.language == "zh":
        runs = [r for r in re.findall(r"[\u4e00-\u9fff]{2,}", source) if r[0] not in "你我他她是"]
        return runs[0][:2] if runs else "这事"
    words = [w for w in re.findall(r"[A-Za-z]{5,}", source) if w.lower() not in EN_STOPWORDS]
    return max(words, key=len).lower() if words else "thing"


def converse(scenario: Scenario, script: list[str], seed: int = 0) -> float:
    """Play ``script`` against the heuristic simulator; return the final anchor score."""
    sim = HeuristicSimulator()
    state, opening = sim.open(scenario)
    history = [Utterance("user", opening)] if opening else []
    word = topic_word(scenario)
    for line in script[:scenario.max_rounds]:
        text = line.replace("{w}", word)
        update = sim.step_sync(scenario, state, history, text, seed=seed)
        history += [Utterance("agent", text),
                    Utterance("user", update.reply, reflection=update.reflection)]
        state = update.state
        if not update.keep_going:
            break
    return anchor_score(state, scenario.start, scenario.success, scenario.failure)


def _by_scene(scenarios: list[Scenario]) -> dict[str, list[Scenario]]:
    return {scene: [s for s in scenarios if s.scene.value == scene] for scene in SCENES}


@pytest.mark.parametrize("scene", SCENES)
def test_skilled_beats_poor_on_the_starter_pack(scene: str) -> None:
    scenarios = _by_scene(read_pack("starter").scenarios)[scene]
    assert scenarios, f"the starter pack has no {scene} scenarios"
    skilled = mean(converse(s, SKILLED_EN[scene]) for s in scenarios)
    poor = mean(converse(s, POOR_EN[scene]) for s in scenarios)
    assert skilled > poor
    assert skilled > 0 > poor


@pytest.mark.official
def test_skilled_beats_poor_on_the_official_chinese_set(official_dir: object) -> None:
    scenarios = _by_scene(read_official(str(official_dir), split="test").scenarios)
    for scene in SCENES:
        cases = scenarios[scene][:12]
        skilled = mean(converse(s, SKILLED_ZH[scene]) for s in cases)
        poor = mean(converse(s, POOR_ZH[scene]) for s in cases)
        assert skilled > 0 > poor, scene
