"""Longer hand-written texts for ``make_example_prompts.py``: paragraphs, reviews, tickets.

Blocks are separated by a blank line; a block's lines are joined with spaces. In
``PARAGRAPHS`` a line starting with ``? `` is a question about that paragraph.
"""

from __future__ import annotations


def blocks(text: str) -> list[str]:
    """Split on blank lines; join each block's lines with single spaces."""
    out = []
    for chunk in text.strip().split("\n\n"):
        lines = [line.strip() for line in chunk.strip().splitlines() if line.strip()]
        if lines:
            out.append(" ".join(lines))
    return out


def paragraphs_with_questions() -> list[tuple[str, list[str]]]:
    """``(paragraph, questions about it)`` pairs from ``PARAGRAPHS``."""
    out = []
    for chunk in PARAGRAPHS.strip().split("\n\n"):
        lines = [line.strip() for line in chunk.strip().splitlines() if line.strip()]
        body = " ".join(line for line in lines if not line.startswith("? "))
        questions = [line[2:] for line in lines if line.startswith("? ")]
        out.append((body, questions))
    return out


PARAGRAPHS = """
The Eiffel Tower was built between 1887 and 1889 as the entrance arch to the 1889 World's Fair
in Paris. Its designer, Gustave Eiffel's engineering company, faced fierce criticism from artists
who called the iron lattice structure an eyesore. The tower was originally meant to stand for
only twenty years, but it proved valuable as a radio transmission tower and was allowed to remain.
Today it is one of the most visited paid monuments in the world, welcoming millions of visitors
each year, and it is repainted roughly every seven years to protect it from rust.
? Why was the Eiffel Tower allowed to remain after twenty years?
? How often is the tower repainted?

Coral reefs cover less than one percent of the ocean floor, yet they support roughly a quarter of
all known marine species. Reefs are built by tiny animals called polyps, which live in partnership
with algae that provide them with food through photosynthesis. When water temperatures rise even
slightly above normal for several weeks, corals expel these algae and turn white, a process known
as bleaching. Bleached corals are not dead, but they are starving, and if temperatures do not fall
they may die within months. Scientists are testing heat-tolerant coral strains and large-scale
restoration projects to help reefs recover.
? What causes coral bleaching?
? What share of marine species do reefs support?

Our quarterly results show revenue of 14.2 million dollars, up 18 percent from the same quarter
last year, driven mainly by growth in the subscription business. Hardware sales declined by 6
percent as customers delayed upgrades ahead of the new product line. Operating expenses rose 9
percent, largely because of hiring in engineering and support. Net margin improved from 7 to 11
percent. For the next quarter we expect revenue between 14.5 and 15.3 million dollars and plan to
open a second support center to reduce response times in the Asia-Pacific region.
? By how much did revenue grow year over year?
? Why did hardware sales decline?

Sleep plays an active role in memory. During deep sleep, the brain replays patterns of activity
from the day, which appears to help move new information from short-term storage in the
hippocampus into longer-term storage in the cortex. Studies in which people learn word pairs or
motor skills and are then tested after a night of sleep or a night awake consistently show better
recall after sleep. Even a short afternoon nap can produce measurable benefits. Researchers caution
that the details are still debated, but the overall message is clear: cutting sleep to study more
is often counterproductive.
? Which brain regions are mentioned in the memory transfer?
? Does a nap help, according to the text?

The city council voted 7 to 2 on Tuesday to convert three downtown blocks of Market Street into a
pedestrian zone starting next spring. Supporters argued that the change would boost foot traffic
for local shops and reduce accidents, pointing to similar projects in other mid-sized cities.
Opponents, including several business owners, worried that removing parking would drive away
customers who come from the suburbs. The plan includes a new shuttle from the municipal garage
and a one-year review, after which the council can reverse the decision if sales fall.
? What was the vote count?
? What safeguard does the plan include?

Photosynthesis is the process by which plants, algae and some bacteria turn light into chemical
energy. In the chloroplasts of plant cells, the pigment chlorophyll absorbs mostly red and blue
light, which is why leaves look green. The absorbed energy splits water molecules, releasing
oxygen as a by-product, and drives a cycle of reactions that builds sugars from carbon dioxide.
Almost all life on Earth depends on this process, directly or indirectly, for food and for the
oxygen in the atmosphere.
? Why do leaves look green?
? What by-product does splitting water release?

The Great Fire of London began in the early hours of 2 September 1666 in a bakery on Pudding Lane.
Fanned by a strong east wind, it spread quickly through the narrow streets of timber houses and
burned for four days. It destroyed more than 13,000 houses, 87 parish churches and the old St
Paul's Cathedral. The recorded death toll was small, although historians believe many deaths went
unrecorded. The rebuilding that followed introduced brick and stone construction, wider streets
and, eventually, Christopher Wren's new St Paul's Cathedral.
? Where did the fire start?
? How long did the fire burn?

Remote work has changed how companies think about offices. Many firms have reduced their floor
space and redesigned what remains for meetings and collaboration rather than individual desks.
Employees report saving time and money on commuting, but some say they feel less connected to
colleagues and find it harder to learn from more experienced coworkers. Managers, meanwhile,
struggle to judge performance without seeing people at work. A growing number of companies have
settled on hybrid schedules, asking staff to come in two or three days a week.
? What do employees gain from remote work?
? What compromise have many companies adopted?

A lithium-ion battery stores energy by moving lithium ions between two electrodes. When the
battery charges, ions travel from the cathode through an electrolyte and settle in the graphite
anode; when it discharges, they flow back and release energy to power a device. Over hundreds of
cycles, side reactions slowly consume lithium and build up layers on the electrodes, which is why
batteries lose capacity as they age. Keeping a battery between about 20 and 80 percent charge and
away from high heat can noticeably extend its life.
? Why do batteries lose capacity over time?
? What charge range extends battery life?

Honeybees communicate the location of food through a movement called the waggle dance. A
forager returning to the hive runs in a straight line while shaking its body, then loops back and
repeats. The angle of the straight run relative to vertical tells other bees the direction of the
flowers relative to the sun, and the duration of the waggle indicates the distance. Karl von
Frisch, who decoded the dance, shared the Nobel Prize in Physiology or Medicine in 1973 for his
work on animal behavior.
? What does the duration of the waggle indicate?
? Who decoded the waggle dance?

The new version of the mobile app introduces offline mode, allowing users to read saved articles
without a connection, and a redesigned search that returns results as you type. We also fixed a
bug that caused notifications to arrive twice on some Android devices and reduced the app's size
by about 30 percent. Dark mode now follows the system setting automatically. Users on iOS 15 or
earlier will need to update their operating system to receive future versions, as we are ending
support for those releases at the end of the year.
? Which bug was fixed?
? Who will need to update their operating system?

Inflation measures how quickly the general level of prices rises over time. Central banks usually
aim for a low and stable rate, often around two percent a year, because moderate inflation
encourages spending and investment while high inflation erodes savings and makes planning
difficult. When inflation runs too high, a central bank typically raises interest rates, making
borrowing more expensive and cooling demand. The effects take time, often a year or more, which
is why policymakers must act on forecasts rather than current figures alone.
? What inflation rate do central banks often target?
? Why must policymakers act on forecasts?

Marie Curie was the first person to win Nobel Prizes in two different sciences: physics in 1903,
shared with Pierre Curie and Henri Becquerel, and chemistry in 1911 for the discovery of polonium
and radium. Born in Warsaw, she moved to Paris to study at a time when few universities admitted
women. Her research on radioactivity, a term she helped popularize, laid the foundations for
cancer treatments and nuclear physics. Her notebooks are still radioactive today and are kept in
lead-lined boxes.
? In which two sciences did Marie Curie win Nobel Prizes?
? Where are her notebooks kept?

Composting turns kitchen scraps and garden waste into a dark, crumbly material that improves soil.
A good compost pile needs a balance of "greens", such as vegetable peelings and grass clippings,
which supply nitrogen, and "browns", such as dry leaves and cardboard, which supply carbon. The
pile should be kept about as moist as a wrung-out sponge and turned every week or two to let air
in. Meat, dairy and oily foods are best left out, since they attract pests and slow the process.
? What do browns supply?
? Which foods should be left out of compost?

Under this agreement, either party may terminate the contract with thirty days' written notice.
If the client terminates before the end of the initial twelve-month term, the client shall pay
for all services delivered up to the termination date plus a fee equal to one month of service.
The provider may terminate immediately if the client fails to pay any invoice within forty-five
days of its due date. Sections 7 (Confidentiality) and 9 (Limitation of Liability) survive
termination.
? How much notice is required to terminate?
? When can the provider terminate immediately?

The marathon commemorates the legend of a Greek messenger who ran from the battlefield at Marathon
to Athens to announce victory over the Persians in 490 BC. The race was introduced at the first
modern Olympic Games in 1896. The distance was standardized at 42.195 kilometres in 1921, a figure
that traces back to the 1908 London Olympics, where the course was arranged to finish in front of
the royal box. Today hundreds of marathons are held around the world every year, attracting both
elite athletes and first-time runners.
? When was the marathon distance standardized?
? What explains the unusual distance?

We tested the robot vacuum in a three-bedroom apartment with hardwood floors and two rugs. It
mapped the space in a single run and handled the transition onto thick rugs without getting stuck.
Suction was strong on crumbs and cat hair, though it left some dust in corners because of its round
shape. The companion app is easy to use and lets you set no-go zones, but it asks for more
permissions than it needs. Battery life of about 110 minutes was enough to clean the whole home
on one charge.
? What was the main weakness in cleaning?
? How long did the battery last?

Antibiotic resistance occurs when bacteria evolve ways to survive the drugs designed to kill them.
Every time antibiotics are used, susceptible bacteria die while resistant ones can survive and
multiply. Overuse in human medicine, such as prescribing antibiotics for viral infections, and
routine use in livestock have accelerated the problem. Health agencies warn that common
infections could once again become dangerous if resistance keeps spreading, and they urge doctors
to prescribe antibiotics only when needed and patients to finish their prescribed course.
? What do health agencies urge doctors and patients to do?
? What practices have accelerated resistance?

The Silk Road was not a single road but a network of trade routes linking China with Central Asia,
the Middle East and Europe for more than fifteen centuries. Along with silk, merchants carried
spices, glass, horses, paper and precious metals. Just as important were the ideas that travelled
with them: Buddhism spread from India into China, and technologies such as papermaking moved
westward. Caravan cities like Samarkand and Kashgar grew rich as meeting points for traders from
many cultures.
? Name two goods traded along the Silk Road.
? Which religion spread along the routes?

Starting 1 March, all employees must use the new expense system for travel and purchases. Receipts
should be photographed with the mobile app within seven days of the expense. Claims above 500
euros require approval from a department head before reimbursement. The old spreadsheet form will
no longer be accepted after 31 March. Training sessions will be held on 20 and 27 February; please
register through the intranet. Questions can be sent to the finance team at the usual address.
? What is the deadline for uploading receipts?
? Which claims need department head approval?

Volcanoes form where molten rock, called magma, rises to the surface. Most are found along the
boundaries of tectonic plates: where plates pull apart, as in Iceland, or where one plate sinks
beneath another, as around the Pacific "Ring of Fire". Some, like those in Hawaii, sit above hot
spots in the middle of a plate. Eruptions range from gentle lava flows to violent explosions,
depending largely on how much gas and silica the magma contains.
? What is the Ring of Fire associated with?
? What determines how explosive an eruption is?

Learning a second language as an adult is harder in some ways than as a child, but adults have
real advantages. They can use grammar explanations, study strategies and a larger vocabulary in
their first language to make connections. Research suggests the biggest predictors of success are
the amount of meaningful practice and the motivation to keep going, rather than age alone. Short
daily sessions, conversation with native speakers and material that genuinely interests the
learner tend to work better than occasional long study marathons.
? What are the biggest predictors of success?
? What study habit does the text recommend?

The James Webb Space Telescope, launched on 25 December 2021, observes the universe mainly in
infrared light. Its main mirror, 6.5 metres across, is made of 18 gold-coated hexagonal segments
that unfolded in space. Webb orbits the Sun near a point about 1.5 million kilometres from Earth,
where a tennis-court-sized sunshield keeps its instruments extremely cold. Its observations of
early galaxies, exoplanet atmospheres and star-forming clouds have already reshaped several
questions in astronomy.
? How many segments make up the main mirror?
? How far from Earth does Webb operate?

The restaurant opened in a former textile warehouse and kept the original brick walls and iron
beams. The menu changes every week depending on what local farms deliver, and the chef favors
simple preparations that let the ingredients speak. Our highlights were a charred leek salad with
hazelnuts and a slow-cooked lamb shoulder for two. Service was friendly but slow on a busy Friday
night, and the dining room can get loud. Prices are high for the neighborhood but fair for the
quality.
? What did the reviewer like most?
? What were the downsides?

A password manager stores your passwords in an encrypted vault protected by one master password.
It can generate long, random passwords for every site, so a breach at one service does not expose
your other accounts. Most managers fill in login forms automatically and warn you when a saved
password appears in known data leaks. Security experts recommend combining a password manager with
two-factor authentication for important accounts such as email and banking.
? Why are unique passwords important?
? What should be combined with a password manager?

The Amazon rainforest spans about 5.5 million square kilometres across nine countries, with the
largest share in Brazil. It holds an enormous amount of carbon and produces much of its own
rainfall by releasing water vapor from its trees. Scientists warn that if deforestation and
warming continue, parts of the forest could pass a tipping point and turn into drier savanna,
releasing carbon instead of storing it. Protecting indigenous land rights has been shown to be one
of the most effective ways of reducing forest loss.
? How many countries does the rainforest span?
? What is the feared tipping point?

Dear customer, your order #48213 was shipped on Monday but was returned to our warehouse because
the delivery address was incomplete: the apartment number was missing. We have not charged you
any additional fees. Please reply with your full address and we will resend the parcel at no cost
within one business day. If you would rather cancel, we will issue a full refund to your original
payment method within five business days.
? Why was the parcel returned?
? How long does a refund take?

The printing press, developed by Johannes Gutenberg around 1440 in Mainz, combined movable metal
type, oil-based ink and a screw press adapted from wine making. Books, which had been copied by
hand, became far cheaper and faster to produce. Within fifty years, presses were operating in more
than two hundred European cities and millions of books had been printed. Historians link the
technology to the spread of literacy, the Reformation and the scientific revolution.
? Where did Gutenberg develop the press?
? Which historical changes are linked to printing?

Kubernetes is an open-source system for running containerized applications across a cluster of
machines. Instead of starting containers by hand, you describe the desired state, such as three
copies of a web service, and Kubernetes continually works to keep the cluster in that state,
restarting failed containers and moving work off unhealthy machines. It also handles service
discovery, rolling updates and scaling. The trade-off is complexity: small teams often find a
managed platform simpler to operate.
? What does Kubernetes do when a container fails?
? What is the main trade-off mentioned?

Tea originated in southwest China, where it was first drunk as a medicine before becoming an
everyday beverage during the Tang dynasty. Dutch and Portuguese traders brought it to Europe in the
seventeenth century, and it became fashionable in Britain after Catherine of Braganza, the
Portuguese wife of Charles II, made it popular at court. The British later established huge
plantations in India and Sri Lanka to break China's near monopoly. Today tea is the most widely
consumed drink in the world after water.
? Who made tea fashionable at the British court?
? Why did Britain establish plantations in India?

The library will close for renovation from 1 June to 31 August. During this time, a temporary
branch will operate in the community center on Elm Avenue with a smaller collection and reduced
hours, Tuesday to Saturday from 10 am to 6 pm. Borrowed items may be returned to any branch, and
due dates falling during the closure will be extended automatically. The renovated library will
include a children's wing, more study rooms and an accessible entrance on the north side.
? Where is the temporary branch?
? What happens to due dates during the closure?

Octopuses are among the most intelligent invertebrates. They can solve puzzles, open jars and
escape from tanks, and individuals in aquariums have been observed recognizing particular keepers.
About two-thirds of an octopus's neurons are located in its arms, which can taste and touch
independently. Octopuses also change the color and texture of their skin in a fraction of a
second to blend in with their surroundings, despite being color-blind by most measures.
? Where are most of an octopus's neurons located?
? What is surprising about their camouflage?

Agile software development breaks work into short cycles, often one or two weeks long, at the end
of which the team delivers something that works. Rather than writing a complete specification up
front, teams gather feedback from users after each cycle and adjust their plans. Daily
stand-up meetings keep everyone aware of progress and obstacles. Critics argue that agile can turn
into a ritual of meetings without real flexibility, especially in large organizations that adopt
the vocabulary but not the mindset.
? How long are typical agile cycles?
? What do critics say about agile?

Wind turbines convert the kinetic energy of moving air into electricity. The blades are shaped
like aircraft wings, so passing air creates lift that turns the rotor, which drives a generator
through a gearbox or directly. Modern offshore turbines can be taller than 250 metres, and a single
rotation of their blades can power a typical home for a day. Because wind varies, grids combine
wind power with other sources, storage and long-distance transmission to keep supply stable.
? How do blades create rotation?
? How do grids cope with variable wind?

After three years of planning, the Riverside community garden opened this weekend on a vacant lot
donated by the city. Forty-two raised beds were assigned by lottery to local families, and a
shared herb area is open to everyone. Volunteers built a tool shed and a rainwater collection
system from recycled materials. Organizers hope to add a small greenhouse next year and to offer
workshops for schoolchildren on growing vegetables.
? How were the beds assigned?
? What do organizers plan for next year?

The human heart beats about 100,000 times a day, pumping blood through a network of vessels that
would stretch tens of thousands of kilometres if laid end to end. The right side of the heart sends
blood to the lungs to pick up oxygen, while the left side, which has thicker muscle walls, pumps
oxygen-rich blood to the rest of the body. Regular exercise strengthens the heart muscle, lowering
the resting heart rate over time.
? Why does the left side have thicker walls?
? What effect does exercise have on resting heart rate?

Customers who bought the X200 blender between January and April may be affected by a defect in the
locking mechanism that can allow the lid to open during use. No injuries have been reported. Stop
using the blender and check the serial number on the base: units starting with B23 or B24 are
affected. We will send a free replacement lid with a redesigned lock, or refund the full price if
you prefer. Register on our website or call the number on this notice.
? How can a customer tell if their blender is affected?
? What remedies are offered?
"""

ARTICLE_PARTS = blocks("""
Ms. Okafor's bakery started in her kitchen in 2015, selling sourdough loaves to neighbors from a
folding table on Saturday mornings. Word spread quickly, and within a year she was baking two
hundred loaves a week with a borrowed oven in a church hall.

In 2018 she signed a lease on a small shop on Harbor Road, hired two apprentices and added
pastries to the menu. The first winter was difficult: a broken oven cost her two weeks of sales,
and a rent increase nearly forced her to close. A crowdfunding campaign organized by regular
customers raised enough money to keep the business running.

Today the bakery employs eleven people, supplies four local cafés and runs a weekend bread school
that is booked months in advance. Ms. Okafor says she has no plans to open a second location.
"Growing bigger would mean baking worse bread," she said. "I would rather know every customer by
name." She is now training her apprentices to take over the early morning shift.

The pilot program gave 300 households in the district a smart thermostat and a monthly report
comparing their energy use with similar homes. Over the twelve months of the trial, participating
homes used on average 9 percent less gas for heating than a matched control group.

The savings were largest in older houses with poor insulation, where some households cut their
consumption by more than 15 percent. Homes that had already been renovated saw little change.
Participants said the monthly comparison was more motivating than the thermostat itself.

The utility now plans to offer the program to 20,000 more customers next winter, prioritizing
households that receive heating assistance. Critics point out that the savings may fade once the
novelty wears off, and the utility has agreed to publish results for a second year.

The team spent the first month of the project interviewing nurses about how they hand over
patients at shift changes. They found that important details, such as allergies and pending test
results, were often passed on verbally and sometimes lost when the ward was busy.

Based on the interviews, the designers built a simple tablet checklist that nurses fill in during
the last thirty minutes of a shift. The incoming nurse reviews it with the outgoing nurse at the
bedside. Early versions were too long and nurses skipped fields, so the checklist was cut from
twenty-five items to twelve.

After three months on two wards, the hospital recorded fewer missed medication doses and nurses
reported feeling more confident at the start of their shifts. The hospital plans to roll the
checklist out to all wards by the end of the year, with a training session for every team.

The expedition set out from the coastal village at dawn, carrying enough food and fuel for
eighteen days. The goal was to reach a glacier that had not been surveyed since 1962 and to
measure how far its edge had retreated.

Storms pinned the team in their tents for four days in the second week. When the weather cleared,
they discovered that the glacier's edge lay almost two kilometres farther up the valley than on
the old maps. Meltwater lakes had formed where the ice once stood.

The researchers collected ice cores and installed two automatic weather stations before returning.
Their data will be shared with an international database that tracks glaciers worldwide. "Seeing
the change with your own eyes is very different from reading about it," said the expedition
leader.
""")

REVIEWS = blocks("""
Absolutely love this coffee grinder. Quiet, consistent grind, and it looks great on the counter.

The headphones broke after two weeks. The left earcup just stopped working. Very disappointed.

Decent hotel for the price. The room was clean but small, and the breakfast was nothing special.

Best pizza in town, hands down. The crust is perfect and the staff always remember our order.

I waited 45 minutes on hold and the agent still couldn't fix my billing problem.

The book started slow but the last hundred pages were impossible to put down.

It does what it says. Nothing more, nothing less.

Oh great, another update that moves every button I use. Just what I needed.

The tent kept us dry through a night of heavy rain. Setup took ten minutes on the first try.

Shipping took three weeks and the box arrived crushed, but the vase inside was fine.

Five stars for the teacher, one star for the course platform, which crashed during every quiz.

My kids have played with these building blocks every day since Christmas. Worth every penny.

The battery life is much worse than advertised. I get maybe four hours, not ten.

Comfortable shoes, true to size, and they still look new after months of daily walking.

The app is fine, I guess. I don't use it much.

Terrible experience. The car rental company charged me for damage that was already there.

The soup was cold, the bread was stale and the waiter ignored us. Never again.

Surprisingly good for a budget phone. The camera is weak in low light,
but everything else is smooth.

Lovely little museum. Allow two hours and don't skip the garden.

I returned the mattress after a week. It was far too firm and gave me back pain.

Customer support replaced my faulty charger within two days, no questions asked. Impressed.

The movie looked stunning but the plot made no sense at all.

Good value gym membership. Equipment is a bit dated and it gets crowded after 6 pm.

This jacket is warm, light and packs into its own pocket. Perfect for travel.

The software works, but the documentation is outdated and the setup guide skips important steps.

Not bad, not great. The pasta was fine and the dessert was the best part.

I have bought this brand of tea for ten years and this batch tastes completely different. Stale?

Fast delivery, well packaged, exactly as described. Would order again.

The hiking trail was beautiful but poorly marked; we got lost twice.

The concert was loud, crowded and absolutely unforgettable.

I expected more from a restaurant with this reputation.
The service was polite but the food was bland.

Works perfectly with my laptop. Plug and play, no drivers needed.

The blender is powerful but so loud that I can't use it early in the morning.

Brilliant podcast episode. The guest explained a complicated topic without dumbing it down.

Our flight was delayed six hours and nobody told us why. The airline offered a five-euro voucher.

The keyboard feels great to type on, but the backlight is uneven and one key squeaks.

The dentist was gentle and explained everything. I actually don't dread my next appointment.

Overpriced for what you get. The portions were tiny.

I was skeptical about the meal kit, but the recipes are easy and the ingredients are fresh.

The umbrella turned inside out in the first gust of wind. You get what you pay for.

Clean, quiet apartment in a great location. The host's check-in instructions were very clear.

The game is fun for the first few hours, then it becomes a repetitive grind unless you pay.

Great course for beginners. The exercises build on each other and the instructor answers questions.

The printer constantly says it's out of ink when the cartridge is half full.

Ordered a medium, received a large. Exchange process was easy though.

The sunscreen doesn't leave a white cast and doesn't irritate my sensitive skin. Finally!

Wi-Fi in the hotel was unusable, which made working from there impossible.

This is the third vacuum from this brand I've owned, and it's the best one yet.

The tour guide was knowledgeable and funny. The bus, however, had no air conditioning.

Delivery driver left the package in the rain. Everything inside was soaked.

The novel's characters felt real, and the ending stayed with me for days.

I love the design, but the chair started wobbling after a month.

Honest mechanic, fair prices, and they explained exactly what needed fixing and what could wait.

The streaming service keeps raising prices while removing shows. Cancelled.

Solid bike lock. Heavy, but that's the point.

The cooking class was a lot of fun, and we went home with recipes we've already made twice.

The smartwatch tracks sleep well, but the heart rate readings during exercise
are all over the place.

Nothing about this place was memorable, good or bad.

The plumber arrived on time, fixed the leak in twenty minutes and cleaned up afterwards.

The noise-cancelling is excellent, but they feel tight after an hour.

I would give zero stars if I could. The order never arrived and they won't refund me.

A charming bookshop with a cat asleep in the window and staff who know their stuff.

The update fixed the crashes. The app is finally usable again.

Pretty view, mediocre drinks, and a 20 percent service charge added without asking.

The vacuum picks up pet hair well, but the bin is tiny and needs emptying every room.

Excellent guide to personal finance. Clear, practical and free of jargon.
""")

TICKETS = blocks("""
I was charged twice for my subscription this month. Please refund the duplicate payment.

The app crashes every time I try to upload a photo larger than 10 MB.

How do I change the email address on my account?

My package shows as delivered but I never received it.

I love the new dashboard design, great work!

Can I get an invoice with my company's VAT number on it?

The password reset link in your email doesn't work; it says the token is invalid.

I'd like to cancel my plan at the end of the current billing period.

Your website is very slow today. Pages take over 30 seconds to load.

Is there a student discount available?

I received the wrong color. I ordered navy and got black.

Two-factor authentication codes are not arriving by SMS.

Please delete my account and all personal data you hold about me.

The export to CSV button produces an empty file.

When will the blue version be back in stock?

I think someone else logged into my account. I see sessions from a country I've never visited.

The tracking number you sent doesn't work on the courier's website.

Could you add a dark mode to the desktop app? It would really help at night.

My discount code SAVE20 is rejected at checkout.

The API returns a 500 error when I send more than 100 items in one request.

I'd like to upgrade from the basic plan to the team plan. Will I be charged the full price?

The item arrived damaged; the glass is cracked. Photos attached.

I can't find where to download my past invoices.

Your support agent Maria was incredibly helpful. Please pass on my thanks.

Notifications stopped working after the last update on my Android phone.

How long does international shipping to Canada usually take?

I was billed after cancelling my free trial. I cancelled two days before it ended.

The integration with our calendar keeps creating duplicate events.

Can I transfer my license to a new computer?

Order #55102 has been "processing" for nine days. What is going on?

Is my payment information stored securely? Which standards do you follow?

The search function ignores accents, so "café" and "cafe" give different results.

I want to return an unopened item. Do I have to pay for return shipping?

The mobile app logs me out every few minutes.

Please add support for importing data from spreadsheets.

My account is locked after too many login attempts. How long until I can try again?

Why did my monthly price go up without any notice?

The product manual is missing from the box. Is there a PDF version?

The sync between my phone and laptop has stopped; changes on one don't appear on the other.

Could you change the delivery address on an order I placed an hour ago?
""")

ENTITY_TEXTS = blocks("""
On 14 March 2023, Sarah Lindqvist was appointed chief financial officer of Nordhavn Logistics,
the Copenhagen-based shipping company announced on Tuesday.

Apple and Goldman Sachs launched a savings account in the United States in April 2023, offering
an interest rate of 4.15 percent.

Dr. Rajesh Menon of the University of Toronto presented the study at a conference in Lisbon last
September.

The European Commission fined the company 2.4 billion euros in June 2017 for abusing its dominance
as a search engine.

Maria Gonzalez, 34, opened her first restaurant, La Cocina Verde, in Austin, Texas, in 2019 after
working for six years at a hotel in Mexico City.

NASA's Perseverance rover landed in Jezero Crater on Mars on 18 February 2021.

Volkswagen said on Friday that it would invest 5 billion dollars in the electric-vehicle start-up
Rivian, based in Irvine, California.

Former Prime Minister Jacinda Ardern of New Zealand joined Harvard University as a fellow in 2023.

The Louvre in Paris welcomed 8.9 million visitors in 2023, according to figures released in
January by the French Ministry of Culture.

Kenji Watanabe will lead the Osaka office of Brightline Consulting from 1 October, replacing
Emily Carter, who is moving to the firm's London headquarters.

The World Health Organization declared the end of the COVID-19 global health emergency on 5 May
2023 in Geneva.

Spotify, headquartered in Stockholm, reported 602 million monthly active users in the second
quarter of 2024.

The Tour de France 2024 finished in Nice instead of Paris because of the Olympic Games.

Amina Yusuf from Lagos won the regional chess championship in Accra on Sunday, beating the
defending champion in the final round.

Microsoft agreed to acquire Activision Blizzard for 68.7 billion dollars in January 2022; the deal
closed in October 2023 after approval by UK regulators.

On Monday, the Bank of England kept its main interest rate at 5.25 percent, Governor Andrew Bailey
said in London.

The Sydney Opera House, designed by the Danish architect Jørn Utzon, opened in October 1973.

Luca Romano, a software engineer at Fincore in Milan, discovered the vulnerability in February and
reported it to the vendor.

The United Nations climate conference COP28 was held in Dubai from 30 November to 12 December
2023.

Toyota recalled about 1 million vehicles in the United States in December 2023 over a possible
airbag sensor defect.

The Berlin-based start-up Greenleaf raised 12 million euros in a funding round led by Atlantic
Ventures, with participation from the founders of Zalando.

Serena Williams won her 23rd Grand Slam singles title at the Australian Open in Melbourne in 2017.

The Guggenheim Museum Bilbao, designed by Frank Gehry, opened to the public in October 1997.

Ahmed Hassan, head of procurement at Delta Foods, signed the supply agreement with Ferreira Farms
of Porto on 2 May for delivery starting in July.

The city of Kyoto announced new restrictions on tourists entering private alleys in the Gion
district from April 2024.
""")

INFORMAL_MESSAGES = blocks("""
hey, can't make the meeting tmrw, something came up. can we push it?

the report's gonna be late, sorry, data's a mess and i'm still cleaning it

thx for the help yesterday!! couldn't have done it without u

yo the server's down again, anyone on it?

need the slides by friday or we're toast

so basically the client hated the design and wants it all redone lol

can u send me that file again? lost it somewhere in my inbox

i think the budget's way too tight for what they want, not gonna lie

gonna be out sick today, feel awful

we should totally grab lunch and talk about the new project sometime

your invoice is like 3 weeks overdue, can you pls pay it

that presentation was kinda all over the place tbh

can't log in to the portal, keeps saying wrong password but it's def right

new guy starts monday, someone show him around ok?

prices are going up next month, just fyi

i messed up the numbers in the last email, ignore them, real ones attached

are we still doing the thing on thursday or nah

heads up, the parking lot's closed all week for repairs

love the idea but idk if we have time to pull it off this quarter

pls stop scheduling meetings at 8am, nobody's awake

the delivery guy dropped the printer, it's busted

just checking if you saw my last email? need an answer kinda soon

we blew past the deadline, client's not happy

can we get more coffee in the kitchen, we ran out again

sorry for the late reply, been swamped

the new software is a pain, nobody knows how to use it

your order's delayed cuz the warehouse flooded, sorry about that

wanna join the team quiz night? need one more person

the intern did an awesome job on the research, give her some credit

i'm quitting end of month, found something closer to home
""")

GRAMMAR_ERRORS = blocks("""
Me and him goes to the store every saturdays.

Their going to announce the results tomorrow, irregardless of the weather.

The team have finished it's work and are going home.

I could of helped you if you would of asked.

Between you and I, the project are behind schedule.

Each of the students have submitted their assignment late.

The data shows that less people are using the old system.

She don't know nothing about the changes.

We was planning to leave early but the meeting run late.

Its a good idea to check you're spelling before sending.

Neither the manager nor the employees was informed.

The book who I borrowed from the library is overdue.

If I was you, I would of taken the job.

There is many reasons why this approach fail.

He has went to the office already.

The childrens toys was scattered all over the floor.

Whom is responsible for this decision?

Less than ten people has registered for the workshop.

Affect of the new policy were seen immediately.

We needs to discuss about the proposal tomorrow.

Everyone should bring their own laptop's to the training.

The weather was so bad that we could'nt leave the house.

I seen that movie last week and it were great.

The committee have decided to postpone it's decision.

Driving to work, the rain started suddenly.

Please find attach the documents you requested.

He is one of those people who always complain about everything.

The reason is because the budget was cut.

I am looking forward to hear from you.

Despite of the delays, the project was finished on time.
""")

CODE_SNIPPETS = [
    "def f(xs):\n    return [x for x in xs if x % 2 == 0]",
    "SELECT department, COUNT(*) FROM employees GROUP BY department HAVING COUNT(*) > 5;",
    "const debounce = (fn, ms) => {\n  let t;\n  return (...args) => {\n"
    "    clearTimeout(t);\n    t = setTimeout(() => fn(...args), ms);\n  };\n};",
    "for i in range(1, 101):\n    print('FizzBuzz' if i % 15 == 0 else 'Fizz' if i % 3 == 0"
    " else 'Buzz' if i % 5 == 0 else i)",
    "git rebase -i HEAD~3",
    "def memo(fn):\n    cache = {}\n    def wrapper(n):\n        if n not in cache:\n"
    "            cache[n] = fn(n)\n        return cache[n]\n    return wrapper",
    "awk -F, '{sum += $3} END {print sum / NR}' sales.csv",
    "with open('log.txt') as f:\n    errors = sum(1 for line in f if 'ERROR' in line)",
    "SELECT c.name, SUM(o.total) FROM customers c JOIN orders o ON o.customer_id = c.id"
    " GROUP BY c.name ORDER BY 2 DESC LIMIT 10;",
    "docker run -d -p 8080:80 -v $(pwd)/site:/usr/share/nginx/html nginx",
    "words = text.lower().split()\ncounts = collections.Counter(words).most_common(5)",
    "fn largest<T: PartialOrd + Copy>(xs: &[T]) -> T {\n    let mut m = xs[0];\n"
    "    for &x in xs { if x > m { m = x; } }\n    m\n}",
    "find . -name '*.tmp' -mtime +7 -delete",
    "async function getJson(url) {\n  const res = await fetch(url);\n"
    "  if (!res.ok) throw new Error(res.status);\n  return res.json();\n}",
    "def is_palindrome(s):\n    s = ''.join(c.lower() for c in s if c.isalnum())\n"
    "    return s == s[::-1]",
    "UPDATE accounts SET balance = balance * 1.02 WHERE type = 'savings';",
    "pairs = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)[:3]",
    "grep -rn 'TODO' src/ | wc -l",
]
