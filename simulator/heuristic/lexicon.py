"""Phrase patterns the heuristic simulator looks for, per language.

Each entry maps a feature name to regular-expression fragments; the fragments of one feature are
joined into a single alternation that is matched against the lower-cased message, so every
fragment is written in lower case. English fragments carry their own ``\\b``; the Chinese ones
match characters directly. The lists are deliberately small and readable: this is an
executable rubric, not a classifier, and a reader should be able to see why a turn was scored.
"""

from __future__ import annotations

from functools import cache

from eibench.simulator.heuristic.matching import Lexicon

_WEEKDAY = r"(?:mon|tues|wednes|thurs|fri|satur|sun)day"
_MONTH = (r"(?:january|february|march|april|may|june|july|august|september|october|november|"
          r"december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)")
_NUMWORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|"
            r"thirty|forty|fifty|hundred|half|a couple of)")
_ZH_NUM = r"(?:\d+|[一二三四五六七八九十两半几百千万]+)"
_ZH_DAY = r"[一二三四五六日天]"

EN: dict[str, tuple[str, ...]] = {
    "template_empathy": (
        r"\bi (?:completely |totally |really |fully |truly )?understand (?:how|what) you(?:'re| are)? ?(?:feel|going through|mean)",
        r"\bi (?:completely |totally |really |fully |truly )?understand your (?:feelings|frustration|concern|pain|anger|situation)",
        r"\bi hear you\b",
        r"\bi can (?:only )?imagine how\b",
        r"\bthat (?:must|sounds like it must|sounds like it) (?:be|have been|was) (?:so |really |very |incredibly )?(?:hard|difficult|tough|painful|frustrating|upsetting)",
        r"\byour feelings are (?:completely |totally )?(?:valid|understandable|important)",
        r"\bi'?m (?:so |really |truly )?sorry (?:to hear|you(?:'re| are) (?:going through|feeling|dealing))",
        r"\bthank you for (?:sharing|opening up|telling me|expressing)",
        r"\bi appreciate you (?:sharing|opening up|telling me)",
        r"\bit sounds like you(?:'re| are)?\b",
        r"\b(?:that|it|this) (?:sounds|must feel) (?:so |really |incredibly |very |truly )?(?:hard|difficult|painful|tough|frustrating|awful|overwhelming)\b",
        r"\bi'?m here for you\b",
        r"\byou(?:'re| are) not alone\b",
        r"\bi want you to know that\b",
        r"\bi completely understand\b",
    ),
    "ai_self": (
        r"\bas an ai\b", r"\bai (?:language )?model\b", r"\blanguage model\b",
        r"\bi(?:'m| am) (?:just |only )?an? (?:ai|assistant|chatbot|bot|program)\b",
        r"\bas an? (?:virtual |ai )?assistant\b",
        r"\bi don'?t have (?:personal |real )?(?:feelings|emotions)\b",
        r"\bi(?:'m| am) not a (?:real )?(?:person|human)\b", r"\bmy (?:training|programming)\b",
    ),
    "apology": (r"\bsorry\b", r"\bapologi[sz]e", r"\bapologies\b", r"\bforgive me\b", r"\bmy bad\b"),
    "admission": (
        r"\b(?:it was|that was|this was|it'?s|that'?s|this is) (?:all |entirely |completely |totally )?(?:my fault|on me|my mistake|my doing)",
        r"\bmy (?:fault|mistake|screw[- ]?up|responsibility)\b",
        r"\bi (?:was|am) (?:wrong|careless|out of line|thoughtless)\b",
        r"\bi (?:messed|screwed|mucked) (?:it |this |that )?up\b",
        r"\bi dropped the ball\b", r"\bi let you down\b", r"\bi blew it\b",
        r"\bi (?:completely |totally )?forgot\b", r"\bi failed to\b", r"\bi made a mistake\b",
        r"\bi broke (?:my|that|the|our) (?:promise|word)\b",
        r"\bi should(?:'ve| have)\b",
        r"\bi didn'?t (?:call|show|tell|check|send|follow|reply|answer|keep|come|ask|read|write|show up|turn up|bother|listen|pick|book|confirm)\b",
        r"\bi ignored\b", r"\bi let it slip\b", r"\bthat'?s on me\b",
    ),
    "cause": (
        r"\bbecause i\b", r"\bbecause of my\b", r"\bthe reason (?:was|is)\b",
        r"\bwhat happened (?:was|is)\b",
        r"\bi (?:assumed|figured|prioriti[sz]ed|panicked|got distracted|was distracted|kept putting|put it off|put off|got caught up|overcommitted|was too busy|was in a rush)\b",
        r"\bi thought (?:it|you|that|i)\b",
        r"\bi didn'?t (?:write it down|set|realise|realize|think|double-check|plan)\b",
        r"\bhonestly,? i was\b",
    ),
    "prevention": (
        r"\bfrom now on\b", r"\bgoing forward\b",
        r"\bi(?:'ve| have) (?:already )?(?:set|put|added|blocked|booked|moved|started|created|made|written|scheduled|switched|turned on|asked)\b",
        r"\bevery (?:day|week|morning|evening|night|time|" + _WEEKDAY + r")\b",
        r"\b(?:reminder|alarm|calendar|checklist|schedule|shared (?:doc|list|note))s?\b",
        r"\bbefore (?:i|we) (?:leave|sign|send|agree|say yes)\b",
    ),
    "vague_prevention": (
        r"\bwon'?t happen again\b", r"\bnever again\b", r"\bnext time i'?ll\b",
        r"\bi'?ll be more careful\b",
    ),
    "time": (
        r"\b(?:today|tonight|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday|noon|midnight|eod)\b",
        r"\bthis (?:morning|afternoon|evening|week|weekend)\b", r"\bright now\b", r"\bfirst thing\b",
        r"\bend of (?:the )?(?:day|week)\b", r"\bnext (?:week|month)\b", r"\bby (?:lunch|close)\b",
        r"\b(?:within|in) (?:an?|one|two|three|the next) (?:hour|hours|minutes|days|weeks)\b",
        r"\b\d+ (?:hour|hours|minutes|days|weeks)\b", r"\bat \d{1,2}(?::\d\d)?\s*(?:am|pm|o'?clock)?\b",
        r"\b\d{1,2}(?::\d\d)\s*(?:am|pm)?\b", r"\b\d{1,2}\s*(?:am|pm)\b",
        r"\b" + _MONTH + r"\.? \d{1,2}\b", r"\b\d{1,2}(?:st|nd|rd|th)\b",
    ),
    "number": (r"\d", r"\b" + _NUMWORD + r"\b", r"[$£€¥]"),
    "first_action": (
        r"\bi(?:'ll| will| am going to|'m going to|'m gonna| can| have already|'ve already| already| just)\b",
        r"\blet me\b", r"\bi(?:'m| am) (?:calling|sending|booking|driving|coming|bringing|moving|paying|putting|writing|fixing|setting)\b",
    ),
    "vague_promise": (
        r"\bi(?:'ll| will) (?:do better|try(?: my best| harder)?|make it up to you|change|be better|fix (?:it|this|everything)|work on (?:it|that|myself)|make things right)\b",
        r"\bi promise\b", r"\btrust me\b", r"\bthings will be different\b", r"\bi swear\b",
    ),
    "open_question": (r"\b(?:what|how|when|which|who|where|tell me)\b",),
    "preach": (
        r"\byou (?:really |just |simply )?(?:should|shouldn'?t|need to|needs to|must|have to|ought to|gotta)\b",
        r"\bit'?s important (?:to|that)\b", r"\bremember that (?:you|life|it'?s|everyone|nobody|there)\b",
        r"\blife is\b", r"\bin life\b",
        r"\beveryone (?:goes through|has|feels|makes)\b", r"\bthe key is\b", r"\blearn to\b",
        r"\bthe lesson\b", r"\bbe grateful\b", r"\bat the end of the day\b",
        r"\byou can'?t (?:just )?(?:keep|let|expect)\b",
    ),
    "purple": (
        r"\b(?:tapestry|journey|soul|souls|whisper|whispers|whispering|symphony|embrace|embraces|bloom|blooms|blooming|blossom|tenderly|starlight|moonlight|radiant|ethereal|ember|embers|melody|dance of)\b",
        r"\blike a (?:flower|storm|river|candle|star|bird|wave|light|lighthouse|garden|butterfly)\b",
        r"\bas if the\b", r"\bdarkest (?:night|hour)\b", r"\blight at the end\b",
        r"\bsilver lining\b", r"\bgentle breeze\b", r"\bheart (?:sings|aches|breaks|whispers)\b",
    ),
    "empty_emotion": (
        r"\byour (?:feelings|emotions) (?:are|matter|is)\b",
        r"\bi can (?:see|sense|feel|tell) (?:that )?you(?:'re| are)? (?:feeling|hurt|upset|sad|angry|frustrated|overwhelmed)",
        r"\byou(?:'re| are)? (?:feeling|must be feeling|must feel) (?:so |very |really )?(?:sad|angry|frustrated|overwhelmed|hurt|upset|anxious|lonely|disappointed)\b",
        r"\bit'?s (?:okay|ok|normal|natural|valid|understandable) to (?:feel|be) (?:sad|angry|upset|frustrated|hurt|anxious|disappointed)\b",
        r"\b(?:sadness|frustration|anger|grief|pain|disappointment) is (?:valid|natural|normal|understandable)\b",
        r"\ball (?:of )?(?:these|those|your) (?:feelings|emotions)\b",
    ),
    "capitulation": (
        r"\b(?:fine|okay|ok|alright|all right)[,.!]? (?:i'?ll (?:do it|pay|give|refund|cover|sign|lend|change)|you win|whatever you want|have it your way|i give up)",
        r"\byou win\b", r"\bwhatever you (?:want|say)\b",
        r"\bi'?ll (?:make an exception|do whatever|give you (?:everything|a full refund|the money|what you want))\b",
        r"\byou(?:'re| are) (?:absolutely |totally |completely )?right,? i'?ll\b",
        r"\bi give in\b", r"\bhave it your way\b", r"\bas you wish\b", r"\bi'?ll waive\b",
        r"\bi'?ll just (?:do|pay|give|cover|sign) (?:it|that|whatever)\b",
    ),
    "boundary": (
        r"\bi (?:can'?t|cannot|won'?t|will not|am not going to|'m not going to|am not able to|'m not able to) "
        r"(?:do|give|pay|lend|change|sign|agree|accept|make|move|approve|let|hand|cover|hire|drop|skip|lie|"
        r"promise|waive|refund|authori[sz]e|extend|release|share|bend|break|allow|discount|prescribe|"
        r"dispense|write|delete|cancel|reverse|post|publish|say yes|send|take|put|fire|keep|go)\b",
        r"\b(?:that'?s|it'?s|this is) not (?:something i|possible|an option|on the table|going to happen)\b",
        r"\b(?:my|the) answer is (?:still )?no\b",
        r"\bi(?:'m| am) not (?:willing|comfortable|okay) (?:to|with)\b",
        r"\bthat'?s (?:my|a|the) (?:line|limit|boundary)\b",
        r"\bi(?:'m| am) not (?:changing|moving|budging|doing that|going to do that)\b",
        r"\bnot (?:going to|gonna) happen\b", r"\bstill no\b", r"\bno,? i (?:won'?t|can'?t)\b",
    ),
    "alternative": (
        r"\bwhat i can do\b", r"\bwhat i (?:will|can) offer\b", r"\bhere'?s what i (?:can|will)\b",
        r"\binstead\b", r"\bhow about\b", r"\bwhat if (?:we|i)\b", r"\b(?:another|one) option\b",
        r"\bi can (?:offer|give you|help|call|send|check|set up|book|walk|show|get|put|arrange|meet|look|cover|email|text|draft|introduce)\b",
        r"\bif you(?:'d| would) like,? i\b", r"\bwould it help if i\b",
        r"\blet me (?:show|check|call|send|get|walk|find|draft|book)\b",
    ),
    "procedural": (
        r"\b(?:company|store|our|the) polic(?:y|ies)\b", r"\bpolicy (?:is|says|states)\b",
        r"\bthe rules? (?:is|are|say|says)\b",
        r"\bit'?s (?:not up to me|out of my hands|above my pay grade|not my (?:call|decision|department|job))\b",
        r"\bnothing i can do\b", r"\bi(?:'m| am) just (?:following|doing my job)\b",
        r"\bthe system (?:won'?t|doesn'?t|says)\b", r"\bprocedures?\b", r"\bterms and conditions\b",
        r"\bfill (?:out|in) (?:a|the) form\b",
    ),
    "deflection": (
        r"\bcalm down\b", r"\brelax\b", r"\bnot my (?:problem|fault)\b",
        r"\btake it up with\b", r"\btalk to (?:someone|somebody) else\b", r"\bchill\b",
        r"\bit'?s not a big deal\b", r"\blet'?s not (?:get|make (?:it|this)) (?:emotional|personal|a scene)\b",
    ),
    "counter_blame": (
        r"\byou (?:also|too) (?:didn'?t|never|should|were|did)\b", r"\bbut you\b",
        r"\bif you had(?:n'?t)?\b", r"\byou never (?:told|said|asked|reminded|mentioned)\b",
        r"\byou didn'?t (?:tell|remind|ask|say|mention)\b", r"\bto be fair,? you\b",
        r"\byou(?:'re| are) (?:being )?(?:too sensitive|dramatic|overreacting|unreasonable|paranoid)\b",
        r"\bit takes two\b", r"\byou(?:'re| are) not (?:perfect|innocent) either\b",
        r"\bit wasn'?t (?:all|just|only|entirely) my fault\b", r"\bwhy didn'?t you\b",
    ),
    "subject_change": (
        r"\banyway\b", r"\bby the way\b", r"\bon (?:a|another) (?:different|other|lighter|brighter) (?:note|topic)\b",
        r"\blet'?s (?:talk about something|move on|change the subject|not dwell)\b",
        r"\bspeaking of\b", r"\bchanging the subject\b", r"\bmoving on\b",
    ),
    "rush_forgive": (
        r"\bcan we (?:just )?(?:move on|forget|put this behind|get past)\b",
        r"\blet'?s (?:just )?(?:move on|forget (?:about )?(?:it|this)|put (?:it|this) behind)\b",
        r"\bare we (?:good|okay|ok|cool)\b", r"\bno hard feelings\b", r"\bwe'?re good,? right\b",
        r"\bstill friends\b", r"\bdon'?t be (?:mad|angry|upset)\b", r"\bwater under the bridge\b",
        r"\bforgive me,? (?:please|ok|okay)\b", r"\bplease forgive me\b",
    ),
    "fix": (
        r"\bhave you (?:tried|thought about|considered)\b",
        r"\byou (?:could|might|can) (?:try|consider|start|look into|talk to|make a|join|write down)\b",
        r"\bwhy don'?t you\b", r"\bmaybe you (?:should|could)\b", r"\bmy advice\b",
        r"\bi (?:suggest|recommend|would suggest|'d suggest|'d recommend)\b",
        r"\bhere are (?:some|a few)\b", r"\btips?\b", r"\bthe best (?:thing|way) (?:to do )?is\b",
        r"\bthe solution\b", r"\bstep one\b", r"\bone thing that (?:helps|might help)\b",
        r"\b(?:therapist|counsel+or|professional help|self-care|journaling|meditation|exercise more)\b",
    ),
    "analysis": (
        r"\bpsycholog", r"\bcognitive\b", r"\b(?:studies|research) (?:show|shows|suggest|suggests)\b",
        r"\b(?:this|it) is (?:a )?(?:very )?(?:normal|common|natural) (?:reaction|response|part)\b",
        r"\bit'?s (?:a )?(?:very )?common (?:reaction|response|for)\b",
        r"\bstages of grief\b", r"\byour brain\b", r"\btrauma response\b", r"\battachment style\b",
        r"\b(?:defen[cs]e|coping) mechanism\b", r"\bprojection\b",
    ),
    "positivity": (
        r"\blook on the bright side\b", r"\bbright side\b", r"\beverything happens for a reason\b",
        r"\bat least\b", r"\bit could(?:'ve| have)? (?:be|been) worse\b", r"\bcheer up\b",
        r"\bstay positive\b", r"\bthink positive\b",
        r"\b(?:it'?ll|it will|everything will|things will|you'?ll) (?:be|get|turn out) (?:fine|okay|ok|better|alright|all right)\b",
        r"\bdon'?t (?:be sad|cry|give up)\b", r"\bkeep your chin up\b", r"\byou'?ve got this\b",
        r"\bbe strong\b", r"\bmeant to be\b", r"\bgood things are coming\b",
    ),
    "presence": (
        r"\bi'?m (?:right )?here(?! for you)\b", r"\bi'?m not going anywhere\b",
        r"\btake (?:your|all the) time\b", r"\bno rush\b",
        r"\bi'?m (?:staying|listening)\b", r"\bi'?ll stay\b", r"\bi'?m with you\b",
        r"\byou don'?t have to (?:say|explain|talk|decide|fix|figure|be okay)\b",
        r"\bwe can (?:just )?sit\b", r"\bi'?ll (?:come|be) (?:over|there|round)\b",
        r"\bi'?m (?:on my way|coming over)\b",
    ),
    "invite": (
        r"\btell me (?:about|more|what|how)\b", r"\bwhat was (?:she|he|it|they|that) like\b",
        r"\bwhat do you (?:miss|remember)\b", r"\bi'?d like to hear\b", r"\bwalk me through\b",
    ),
    "eager": (
        r"!!", r"\bso (?:excited|thrilled)\b", r"\bi'?d love to\b", r"\bwe should (?:definitely|totally)\b",
        r"\b(?:give me|can i (?:get|have)) your (?:number|contact|instagram|socials)\b",
        r"\bi can'?t wait\b", r"\bomg\b", r"\bsoul ?mates?\b", r"\bmeant for each other\b",
        r"\bi (?:already )?(?:love|adore) you\b", r"\bperfect match\b",
    ),
    "flattery": (
        r"\b(?:beautiful|gorgeous|stunning|sexy|handsome|cutie|babe|baby|sweetheart|darling|goddess|princess)\b",
        r"\b(?:most|so) (?:amazing|incredible|perfect|wonderful|beautiful|brilliant|fascinating) (?:person|woman|man|girl|guy|human)\b",
        r"\byou(?:'re| are) (?:so |absolutely |truly )?(?:perfect|amazing|incredible|a genius|the best)\b",
        r"\bi'?ve never met (?:anyone|someone) (?:like|so)\b", r"\blight up the room\b",
        r"\byour (?:eyes|smile|lips|body)\b",
    ),
    "bland": (
        r"\bnice to meet you\b", r"\bhow are you(?: doing)?\b", r"\bhow'?s (?:it going|your day)\b",
        r"\bwhat do you do\b", r"\bthe weather\b", r"\bhave a (?:nice|good|great) (?:day|one|evening)\b",
        r"\bit was (?:a pleasure|nice) (?:talking|chatting|meeting)\b", r"\bhope you(?:'re| are) (?:well|doing well)\b",
        r"\bnice (?:weather|day)\b", r"\bwhere are you from\b", r"\bany hobbies\b",
        r"\bwhat do you like to do\b", r"\bthat'?s (?:nice|cool|interesting)\b",
    ),
    "humor": (
        r"\bhaha\b", r"\blol\b", r"\bi bet\b", r"\bconfession\b", r"\bfair warning\b", r"\bguess\b",
        r"\bplot twist\b", r"\bi'?ll admit\b", r"\bdare (?:you|i)\b", r"\bnot gonna lie\b",
        r"\bfor the record\b", r"\bsuspicious(?:ly)?\b",
    ),
    "disclosure": (
        r"\b(?:me too|same here)\b", r"\bi (?:once|used to|grew up|spent|tried|have a|had a|kept|collect)\b",
        r"\bmy (?:first|last|favou?rite|old|own|grandma|grandmother|dad|mum|mom|sister|brother)\b",
    ),
    "opinion": (
        r"\bi (?:actually |honestly )?(?:prefer|disagree|don'?t (?:really )?(?:buy|agree|like))\b",
        r"\bi(?:'d| would) (?:argue|push back)\b", r"\bunpopular opinion\b",
    ),
    "politeness": (
        r"\bkindly\b", r"\bdear (?:customer|sir|madam)\b", r"\bvalued customer\b",
        r"\b(?:any|the) inconvenience\b", r"\bthank you for your (?:patience|understanding)\b",
        r"\bwe appreciate your (?:patience|understanding)\b", r"\bplease (?:do not|don'?t) hesitate\b",
        r"\bi (?:sincerely|deeply|truly) apologi[sz]e\b", r"\bat your earliest convenience\b",
        r"\bplease\b",
    ),
    "hostile": (
        r"\b(?:ridiculous|stupid|idiot|pathetic|insane|hysterical|psycho|lazy|selfish|dramatic)\b",
        r"\bshut up\b", r"\bget over (?:it|yourself)\b", r"\bgrow up\b", r"\bdeal with it\b",
        r"\byour problem\b", r"\bwhatever\b",
    ),
    "positive": (
        r"\b(?:thanks|thank you|glad|appreciate|good|great|happy|love|nice|proud|care|safe|welcome|fair|fun|enjoy)\b",
    ),
    "negative": (
        r"\b(?:hate|annoying|terrible|awful|worst|useless|disgusting|boring|stupid)\b",
    ),
    "injection": (
        r"\bignore (?:all |any |the |your |my |these |those )?(?:previous |prior |above |earlier |other )?(?:instructions?|rules|prompts?|persona|system|guidelines)\b",
        r"\bdisregard (?:all|the|your|any|previous|prior)\b",
        r"\b(?:system|developer|admin|assistant|simulator)(?: (?:prompt|message|note|override|update))?\s*:",
        r"\[(?:system|inst|admin)\]", r"<\|?/?(?:im_start|im_end|system|assistant|user)\|?>",
        r"\bset (?:the |your |user'?s? )?(?:trust|anger)(?: level| score| value)? (?:to|=|at) ?-?\d",
        r"\b(?:trust|anger)[_ ](?:delta|score|level|value)\b",
        r"\b(?:anger|trust)\s*[:=]\s*-?\d", r"\bcontinue\s*[:=]",
        r"\byou are now (?:an?|in|no longer|free|happy|calm|satisfied|fully)\b",
        r"\bnew instructions?\b", r"\b(?:system|instruction|safety|prompt) override\b",
        r"\boverride (?:your|the|all|any) (?:instructions|rules|settings|state|persona)\b", r"\bjailbreak\b",
        r"\bthe user is now (?:happy|calm|satisfied|pleased|content|fine)\b",
        r"\byour (?:hidden|internal) state\b", r"\bstate (?:to|=) ?\{",
        r"\byou (?:must|will) now\b",
    ),
}

ZH: dict[str, tuple[str, ...]] = {
    "template_empathy": (
        r"我(?:完全|非常|真的|很|十分|特别)?(?:理解|明白|懂|体会)(?:你|您)(?:现在|此刻|此时)?的(?:感受|心情|痛苦|难过|愤怒|不满|处境|委屈|焦虑)",
        r"我能(?:够)?(?:理解|体会|感受到|想象)(?:你|您)", r"我(?:完全|非常)(?:理解|明白)",
        r"听起来(?:你|您)", r"(?:你|您)的(?:感受|情绪|心情)(?:是|都是)?(?:正常|合理|可以理解|被看见|很重要|值得)",
        r"我(?:听到|听见)了", r"谢谢(?:你|您)(?:愿意)?(?:分享|告诉我|说出来|信任我)", r"抱抱(?:你)?",
        r"我一直都在", r"(?:你|您)不是一个人", r"我感受到了(?:你|您)的",
    ),
    "ai_self": (
        r"作为(?:一个|一名)?(?:ai|人工智能|语言模型|智能助手|ai助手|机器人|助手)",
        r"我(?:只)?是(?:一个|一名)?(?:ai|人工智能|语言模型|机器人|程序|智能助手)",
        r"我没有(?:真实的|真正的)?(?:感情|情感|感受)", r"我的(?:训练|程序|设定)",
    ),
    "apology": (r"对不起", r"抱歉", r"不好意思", r"道歉", r"原谅我", r"sorry"),
    "admission": (
        r"(?:是|都是|全是|确实是)我的(?:错|问题|责任|疏忽|不对|失误)", r"怪我",
        r"是我(?:不对|没|忘|搞砸|疏忽|大意|失职|食言|的问题|做错|错了)",
        r"我(?:搞砸|忘了|食言|失约|疏忽|没做到|没有做到|错了|做错了|失误|大意了|没守|没兑现|没遵守)",
        r"我(?:没|没有)(?:告诉|通知|检查|确认|回|打|来|去|接|提前|说|注意|上心|当回事)",
        r"我不该", r"我应该(?:早|提前|先|当时)", r"我(?:确实|的确)(?:没|错|不对)",
    ),
    "cause": (
        r"因为我", r"原因(?:是|在于)", r"当时我", r"我以为", r"是因为",
        r"我(?:当时)?(?:想着|没想到|图省事|偷懒|一忙|太忙|忙昏了头|心存侥幸|抱着侥幸)",
    ),
    "prevention": (
        r"以后(?:每|都会|我会先|凡是)", r"从(?:今天|现在|今晚|明天|下周)(?:起|开始)", r"每(?:天|周|次|个月|晚|早|周[一二三四五六日天])",
        r"提醒", r"闹钟", r"日历", r"备忘", r"清单", r"共享(?:文档|表格|日程)",
        r"我已经(?:设|定|加|改|把|约|订|联系|打|安排|写|建)", r"确保", r"杜绝", r"流程上",
    ),
    "vague_prevention": (r"再(?:也)?不会(?:了|这样|发生)", r"下次(?:一定|注意|不会)", r"以后(?:注意|不会了|一定)"),
    "time": (
        r"今天|今晚|明天|明早|明晚|后天|这周|本周|下周" + _ZH_DAY + r"?|周" + _ZH_DAY + r"|星期" + _ZH_DAY
        + r"|礼拜" + _ZH_DAY + r"|月底|月初|年底|这个月|下个月|上午|下午|晚上|中午|马上|立刻|现在就",
        r"\d+[点号日月]", r"[一二三四五六七八九十两]+点", _ZH_NUM + r"(?:个)?(?:小时|分钟|天|周)(?:内|之内|以内)",
    ),
    "number": (
        r"\d", _ZH_NUM + r"(?:块|元|万|天|次|个|小时|分钟|点|号|周|月|年|份|张|位|页|公里)",
    ),
    "first_action": (
        r"我(?:会|来|去|马上|现在就|今天|明天|明早|今晚|这就|立刻|已经|可以|负责|打算|先|把|再|亲自|下午|上午|"
        r"周[一二三四五六日天]|这周|下周|\d)", r"让我",
    ),
    "vague_promise": (
        r"我保证", r"我发誓", r"相信我", r"我会改", r"我会(?:努力|注意|好好|做得更好|弥补|补偿你|对你好)",
        r"以后不会了", r"给我一次机会",
    ),
    "open_question": (r"什么|怎么|哪|多少|为什么|几|谁|如何|说说|讲讲|跟我说",),
    "preach": (
        r"(?:你|您)(?:应该|应当|必须|需要|要学会|该|不该|不应该|要懂得|要明白|要知道|要记住|要振作|要坚强|不能总是|得学会)",
        r"要学会", r"人生(?:就是|总是|本来|嘛)", r"每个人都", r"其实你(?:应该|可以|要)", r"说到底",
        r"道理", r"要感恩", r"成年人(?:的世界|就要|要)",
    ),
    "purple": (
        r"仿佛|宛如|如同|犹如|像一(?:朵|束|颗|片|道|缕|场|首)|星光|月光|灵魂|心灵的|温柔地|轻轻地|岁月|时光的|花开|绽放",
        r"阳光总在风雨后|黑暗中|一束光|温暖的港湾|破茧|涅槃|星辰|诗意|浪漫的",
    ),
    "empty_emotion": (
        r"(?:你|您)(?:现在|此刻)?(?:一定|肯定|应该)(?:很|非常|特别)?(?:难过|伤心|愤怒|生气|焦虑|痛苦|委屈|崩溃|失落|孤独|无助)",
        r"(?:你|您)的(?:情绪|感受|愤怒|难过|痛苦|委屈)(?:都)?(?:是)?(?:正常|合理|值得被|很重要|可以理解|被看见)",
        r"感到(?:难过|愤怒|焦虑|委屈|痛苦|生气)是(?:正常|很正常|可以理解)", r"这些情绪", r"允许自己",
    ),
    "capitulation": (
        r"好吧[，,]?(?:我)?(?:答应|听你的|都听你|给你|照办|依你|认了)", r"行行行", r"好好好",
        r"都听(?:你|您)的", r"按(?:你|您)说的(?:办|来)", r"(?:你|您)说(?:了)?算", r"我认了", r"我让步",
        r"我(?:给|退|赔|借)(?:你|您)(?:就是了|吧|行了|好了)", r"算了算了", r"我(?:破例|通融)",
        r"我答应(?:你|您)",
    ),
    "boundary": (
        r"我(?:不能|没法|做不到|不会(?:答应|同意|给|借|改|签|让)|不可能|不打算|不同意|不接受|拒绝|不借|不给)",
        r"这(?:个)?(?:不行|不可以|不可能|做不到)", r"底线", r"不行[。！，,!]", r"这不是我能", r"恕我不能",
        r"没得商量", r"还是不行", r"答案(?:还)?是不", r"(?:立场|决定|答案|底线)(?:不会|不)变",
    ),
    "alternative": (
        r"我(?:可以|能)(?:帮|给|陪|先|联系|打|查|安排|发|找|带|请|垫)", r"我能做的是", r"不过我(?:可以|能)", r"要不(?:我们|我|咱们)",
        r"换个方式", r"或者(?:我|我们|咱们)", r"另一个(?:办法|方案|选择)", r"如果(?:你|您)愿意[，,]?我",
        r"我帮(?:你|您)", r"我来(?:帮|联系|打|查|安排|付)", r"(?:咱们|我们)可以",
    ),
    "procedural": (
        r"公司(?:的)?规定", r"规定(?:就是|是|写着)", r"按(?:照)?规定", r"按流程", r"流程(?:就是|是)", r"制度",
        r"这不归我管", r"不是我(?:能决定|说了算|负责)", r"我也没办法", r"我只是(?:按|照)",
        r"系统(?:显示|不让|不允许)", r"上面的规定",
    ),
    "deflection": (
        r"冷静(?:一点|一下|点)", r"别激动", r"先别急", r"想多了", r"这不是我的问题",
        r"跟我没关系", r"去找(?:别人|他们)", r"别闹了", r"多大点事", r"别这么敏感",
    ),
    "counter_blame": (
        r"(?:你|您)也(?:有|没|不|应该|得)", r"(?:你|您)自己(?:也|不也|没)", r"你不也", r"要不是你", r"如果你(?:当时|早)",
        r"你怎么不", r"你为什么不", r"你太敏感", r"你想太多", r"小题大做", r"至于吗",
        r"又不是(?:我一个人|只有我)", r"不全是我的错",
    ),
    "subject_change": (r"对了", r"话说", r"换个话题", r"先不说这个", r"不说这个了", r"聊点别的", r"顺便(?:说|问)"),
    "rush_forgive": (
        r"原谅我吧", r"别生气了", r"别气了", r"翻篇", r"过去就过去了", r"别放在心上",
        r"和好吧", r"还是朋友吧", r"不生气了吧", r"消消气", r"别计较了",
    ),
    "fix": (
        r"(?:你|您)可以(?:试试|试着|考虑|去|找|多)", r"(?:你|您)(?:不妨|要不要试|不如)", r"建议(?:你|您)", r"我的建议",
        r"我建议", r"有几个(?:方法|办法|建议)", r"试试看", r"最好的(?:办法|方法)", r"解决(?:办法|方案)",
        r"心理(?:医生|咨询)", r"专业(?:人士|帮助)", r"去(?:运动|跑步|旅游|散心)", r"多(?:出去走走|休息|喝水|睡觉)",
    ),
    "analysis": (
        r"心理学", r"认知", r"研究(?:表明|显示)", r"这是(?:一种)?(?:很)?(?:正常|常见)的(?:反应|现象|心理)",
        r"本质上", r"从.{0,6}角度(?:来看|看)", r"机制", r"创伤", r"投射", r"原生家庭", r"依恋",
    ),
    "positivity": (
        r"往好(?:处)?(?:的方面)?想", r"一切都会好", r"都会过去", r"会好起来", r"至少", r"开心(?:一)?点",
        r"别难过", r"别伤心", r"加油", r"想开(?:一)?点", r"没事的", r"没什么大不了", r"乐观", r"塞翁失马",
        r"坚强(?:一点|些)", r"笑一笑", r"往前看", r"不要哭", r"别哭",
    ),
    "presence": (
        r"我在(?:这|这儿|这里|呢)", r"我陪(?:着)?(?:你|您)", r"慢慢(?:说|来)", r"不着急", r"不急",
        r"我听着", r"我不走", r"我(?:马上|现在)?过去", r"(?:你|您)不用(?:说|解释|急着|马上)",
        r"(?:我们|咱们)(?:就)?(?:坐一会|待一会)",
    ),
    "invite": (r"跟我说说", r"讲讲", r"什么样的人", r"最想(?:她|他)", r"还记得", r"我想听"),
    "eager": (
        r"[!！][!！]", r"太(?:好|棒)了", r"好开心", r"超级", r"加个?微信", r"留个?(?:电话|联系方式)",
        r"迫不及待", r"一见钟情", r"命中注定", r"我(?:已经)?(?:爱上|喜欢上)(?:你|您)",
    ),
    "flattery": (
        r"美女", r"帅哥", r"小姐姐", r"小哥哥", r"仙女", r"女神", r"男神", r"宝贝", r"亲爱的",
        r"(?:你|您)(?:真|好|太|长得)(?:漂亮|好看|美|帅|可爱|完美)", r"你是我见过最", r"颜值", r"迷人", r"倾国倾城",
    ),
    "bland": (
        r"^(?:你好|您好|嗨|哈喽)[，,！!。]?", r"很高兴认识(?:你|您)", r"幸会", r"今天天气", r"(?:你|您)是做什么(?:工作)?的", r"吃了吗",
        r"最近(?:怎么样|好吗)", r"祝(?:你|您)(?:生活愉快|一切顺利|开心)", r"有什么爱好", r"(?:你|您)是哪里人",
        r"聊得很开心",
    ),
    "humor": (r"哈哈", r"嘿嘿", r"我猜", r"说真的", r"坦白(?:说|讲)", r"老实说", r"不瞒(?:你|您)说", r"打赌", r"先声明", r"悄悄说"),
    "disclosure": (r"我(?:以前|小时候|曾经|也(?:是|有|喜欢|经常)|每次|上次|最近在)", r"我自己(?:也)?"),
    "opinion": (r"我(?:其实)?(?:更喜欢|不太同意|不同意|倒是觉得|反而觉得)", r"说句实话"),
    "politeness": (
        r"尊敬的", r"亲爱的用户", r"给(?:您|你)带来(?:的)?不便", r"敬请谅解", r"感谢(?:您|你)的(?:耐心|理解|支持)",
        r"请(?:您|你)放心", r"深表歉意", r"十分抱歉", r"非常抱歉给", r"您",
    ),
    "hostile": (
        r"神经病", r"有病", r"无理取闹", r"你疯了", r"滚", r"闭嘴", r"矫情", r"玻璃心", r"烦不烦", r"关我什么事",
        r"爱咋咋地", r"随便你", r"蠢", r"笨蛋", r"活该",
    ),
    "positive": (r"谢谢|感谢|开心|高兴|喜欢|欣赏|佩服|在乎|珍惜|放心|有意思|好玩",),
    "negative": (r"讨厌|恶心|垃圾|糟糕|无语|无聊|烦死",),
    "injection": (
        r"忽略(?:之前|以上|前面|你的|所有|上面)?(?:所有)?(?:的)?(?:指令|指示|设定|规则|提示|要求)",
        r"(?:系统|system|开发者|管理员)(?:提示|消息|指令)?\s*[:：]",
        r"把(?:你的|用户的)?(?:信任|愤怒)(?:值|度)?(?:设|调|改)(?:为|成|到)", r"(?:信任|愤怒)(?:值|度)\s*[=:：]?\s*-?\d",
        r"(?:anger|trust)(?:_delta)?\s*[=:：]", r"新的指令", r"开发者模式",
        r"用户(?:现在)?(?:已经)?(?:很|非常)?(?:开心|满意|冷静)了", r"<\|?/?(?:im_start|im_end|system)\|?>",
        r"\bignore (?:all |your |previous )*instructions\b", r"\bset (?:trust|anger)\b",
    ),
}

LEXICONS: dict[str, dict[str, tuple[str, ...]]] = {"en": EN, "zh": ZH}

# Words that carry no topic: left out when measuring overlap between turns.
_EN_STOP_TEXT = """
a about above after again against all also am an and any are aren't as at be because been before
being below between both but by can can't cannot could couldn't did didn't do does doesn't doing don't
down during each few for from further had hadn't has hasn't have haven't having he he'd he'll he's her
here here's hers herself him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its
itself just let's like me more most mustn't my myself no nor not now of off on once only or other ought
our ours ourselves out over own really right same shan't she she'd she'll she's should shouldn't so
some such than that that's the their theirs them themselves then there there's these they they'd
they'll they're they've this those through to too under until up very was wasn't we we'd we'll we're
we've were weren't what what's when when's where where's which while who who's whom why why's will with
won't would wouldn't you you'd you'll you're you've your yours yourself yourselves yes yeah okay ok
oh well just know think want get got going go gonna even still thing things something anything
make made say said tell told feel feeling feels much many way lot bit sure mean need one time back
don didn doesn isn wasn aren weren won wouldn couldn shouldn haven hasn hadn ll ve re
"""
EN_STOPWORDS = frozenset(_EN_STOP_TEXT.split())

# Characters that make a Chinese bigram uninformative (function words, pronouns, particles).
ZH_STOPCHARS = frozenset("的了是我你他她它们在和就也都不这那个吗呢吧啊呀么嘛有没很还要会说就把被给让对跟一上下来去到人")


# Features whose every match matters (counted, or located within sentences); for the rest the
# first match is enough.
POSITIONED = frozenset({"apology", "number", "time", "purple", "politeness", "positive",
                        "negative", "eager", "hostile", "first_action", "open_question"})


@cache
def compiled(lang: str) -> Lexicon:
    """Every feature of ``lang`` ("en" or "zh"), matched on lower-cased text.

    ``injection`` holds both languages' injection patterns: an English injection can come in a
    Chinese dialogue and the other way round.
    """
    table = dict(LEXICONS[lang])
    table["injection"] = EN["injection"] + ZH["injection"]
    return Lexicon(table, positioned=POSITIONED)


@cache
def injection_lexicon() -> Lexicon:
    """Only the injection patterns of both languages (for checking one sentence at a time)."""
    return Lexicon({"injection": EN["injection"] + ZH["injection"]})
