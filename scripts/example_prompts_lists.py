"""Short hand-written items for ``make_example_prompts.py``: one item per line.

Fields within a line are separated by `` | `` where a generator needs more than one.
Some data lines are longer than the line limit: one item per line reads better.
"""

# ruff: noqa: E501

from __future__ import annotations


def lines(text: str) -> list[str]:
    """Non-empty stripped lines."""
    return [line.strip() for line in text.strip().splitlines() if line.strip()]


def fields(text: str) -> list[list[str]]:
    """Each line split on ``|`` into stripped fields."""
    return [[part.strip() for part in line.split("|")] for line in lines(text)]


SENTENCES = lines("""
Where is the nearest train station?
Could you recommend a good restaurant nearby?
The meeting has been moved to Thursday afternoon.
Please keep your luggage with you at all times.
I would like to book a table for four at eight o'clock.
The museum is closed on Mondays.
How much does a ticket to the city center cost?
Our flight was cancelled because of the storm.
Thank you very much for your hospitality.
The package should arrive within three business days.
I'm allergic to peanuts.
Can you speak a little more slowly, please?
The store opens at nine and closes at six.
We are looking for a software engineer with five years of experience.
Turn left at the second traffic light.
My phone battery is almost empty.
Do you have this shirt in a larger size?
The weather will be sunny with a light breeze tomorrow.
Please sign the contract and return it by Friday.
I have been learning this language for two years.
The hotel breakfast is served from seven to ten.
Is there free Wi-Fi in the room?
Our office will be closed for the holidays.
The doctor will see you in ten minutes.
Could you help me carry these boxes upstairs?
The train to the airport leaves every fifteen minutes.
We apologize for the inconvenience.
I forgot my password and cannot log in.
The concert was sold out in less than an hour.
Please turn off your phone during the performance.
What time does the last bus leave?
I would like a glass of water, please.
The new policy takes effect on the first of next month.
My suitcase did not arrive with my flight.
Children under twelve travel for free.
The report contains several important recommendations.
Could we schedule a call for next week?
This medicine should be taken twice a day with food.
The bridge is closed for repairs until the end of May.
I really enjoyed our conversation yesterday.
Happy birthday! I hope all your wishes come true.
The invoice is attached to this email.
Please wait behind the yellow line.
The garden looks beautiful in the spring.
We need to buy bread, milk and eggs.
The lecture starts at half past ten in room 204.
Your order has been shipped.
I'm sorry, I don't understand.
The price includes taxes and delivery.
Smoking is not allowed anywhere in the building.
Can I pay by credit card?
The river flooded the village last winter.
She has lived in this city for twenty years.
The elevator is out of order; please use the stairs.
Remember to water the plants while I'm away.
The exhibition features works by young local artists.
Our team won the match in the final minute.
Could you tell me how to get to the old town?
The results will be published on our website next week.
I left my umbrella on the bus.
""")

FOREIGN_SENTENCES = fields("""
French | Je voudrais réserver une chambre pour deux nuits.
French | Le train a vingt minutes de retard à cause de la neige.
French | Pouvez-vous m'indiquer le chemin de la gare ?
Spanish | Mañana vamos a visitar a mis abuelos en el campo.
Spanish | El restaurante está cerrado los domingos por la noche.
Spanish | ¿Cuánto cuesta un billete de ida y vuelta a Madrid?
German | Ich habe meinen Schlüssel im Büro vergessen.
German | Die Besprechung findet morgen um zehn Uhr statt.
German | Könnten Sie mir bitte die Rechnung schicken?
Italian | Il museo apre alle nove e chiude alle diciannove.
Italian | Abbiamo mangiato la migliore pizza della nostra vita.
Portuguese | O voo para Lisboa foi cancelado por causa do nevoeiro.
Portuguese | Obrigado por responder tão rapidamente ao meu pedido.
Dutch | De winkel is vandaag gesloten vanwege een feestdag.
Swedish | Vi ses på fredag vid stationen klockan sju.
Polish | Dziękuję za pomoc przy przeprowadzce w zeszłym tygodniu.
Turkish | Bu akşam sinemaya gitmek ister misin?
Indonesian | Saya sedang belajar memasak masakan tradisional.
""")

LANGUAGES = lines("""
French
Spanish
German
Italian
Portuguese
Japanese
Korean
Simplified Chinese
Dutch
Polish
Turkish
Arabic
Hindi
Swedish
Greek
Vietnamese
Indonesian
Ukrainian
""")

POEM_TOPICS = lines("""
the first snow of winter
a lighthouse at night
morning coffee
distributed systems
a cat watching rain
autumn leaves in a city park
the last train home
an old bookshop
a thunderstorm over the sea
debugging code at 3 am
a sourdough starter
cherry blossoms
a quiet library
the moon over mountains
a grandmother's kitchen
a busy airport
fireflies in summer
a forgotten umbrella
the ocean at dawn
a marathon runner's final mile
an abandoned train station
the smell of rain on hot pavement
a robot learning to paint
a lost sock
moving to a new city
the hum of a refrigerator at midnight
a field of sunflowers
the first day of school
a desert at noon
a spreadsheet that finally balances
a street market in the morning
fog rolling over a harbor
a kite caught in a tree
the sound of a typewriter
an empty stadium
a snail crossing a garden path
winter solstice
a bicycle ride downhill
a power outage
a letter never sent
a mountain lake
the night shift at a hospital
a jazz club after closing time
a volcano sleeping
a tiny apartment balcony garden
the end of a long project
a migrating flock of geese
a frozen waterfall
a coffee shop on a rainy day
the Northern Lights
a child's first bicycle
a deep-sea creature
an overdue library book
a ferry crossing
a chess game in the park
a lighthouse keeper's last day
cloud computing
a teapot
the smell of old paper
a slow Sunday morning
a traffic jam
the first warm day of spring
a satellite orbiting Earth
bread rising in the oven
an owl at dusk
city lights from an airplane window
a message in a bottle
a broken clock
a long-distance friendship
the sea in winter
a garden after rain
an unfinished painting
a crowded subway car
wind turbines on a hill
a favorite old sweater
a solar eclipse
the quiet after a party
a lemon tree
a rusty gate
a village at the edge of a forest
""")

POEM_FORMS = lines("""
a haiku
a haiku
a haiku
a limerick
a four-line rhyming poem
a short free-verse poem
a sonnet
a two-line poem
an acrostic poem using the word SPRING
a cinquain
""")

POEM_STYLES = lines("""
in a melancholy tone
in a playful tone
for children
with vivid imagery
in the style of a nature documentary narrator
that ends with a surprise
using only simple words
that mentions the color blue
""")

QUESTIONS = lines("""
What is the capital of Australia?
Who wrote "Pride and Prejudice"?
How many bones are in the adult human body?
What is the boiling point of water at sea level in Fahrenheit?
Which planet has the most moons?
When did the Berlin Wall fall?
What is the largest desert in the world?
Who painted the ceiling of the Sistine Chapel?
What is the chemical symbol for gold?
How far is the Moon from the Earth on average?
What language has the most native speakers?
Which element has the atomic number 1?
Who was the first woman to fly solo across the Atlantic?
What is the longest river in Africa?
In which year did the first human land on the Moon?
What is the smallest prime number?
Which country has the largest population in Africa?
What does DNA stand for?
Who developed the theory of general relativity?
What is the speed of light in a vacuum?
What is the tallest mountain in North America?
Which ocean is the largest?
Who composed "The Four Seasons"?
What is the main gas in Earth's atmosphere?
How many players are on a soccer team on the field?
What is the currency of Japan?
Which organ produces insulin?
What year did the Titanic sink?
What is the hardest natural substance?
Who invented the telephone?
What is the capital of Canada?
How many continents are there?
What is the freezing point of water in Kelvin?
Which country gifted the Statue of Liberty to the United States?
What is the largest mammal?
Who wrote "One Hundred Years of Solitude"?
What is the square root of 144?
Which planet is known as the Red Planet?
What is the primary language spoken in Brazil?
Who discovered penicillin?
What is the largest organ of the human body?
How many sides does a hexagon have?
What is the capital of South Korea?
Which blood type is known as the universal donor?
What is the name of the galaxy we live in?
Who was the first President of the United States?
What causes the seasons on Earth?
What does HTTP stand for?
Which instrument has 88 keys?
What is the capital of Argentina?
How long does it take light from the Sun to reach Earth?
Who wrote "The Odyssey"?
What is the most abundant element in the universe?
Which country is home to the kangaroo?
What is the largest lake in Africa?
When was the World Wide Web invented?
Who painted "The Starry Night"?
What is the pH of pure water?
Which metal is liquid at room temperature?
What is the capital of Egypt?
How many hearts does an octopus have?
What is the longest bone in the human body?
Which country hosted the 2016 Summer Olympics?
What is the boiling point of water in Celsius?
Who was Ada Lovelace?
What is photosynthesis in one sentence?
What is the difference between weather and climate?
Why is the sky blue?
What is the capital of Kenya?
How many minutes are in a day?
Which scientist proposed the three laws of motion?
What is the largest country by area?
What is the deepest point in the ocean?
Who wrote "Hamlet"?
What is the official language of Iran?
Which gas do plants absorb from the air?
What is the capital of Norway?
How many strings does a standard guitar have?
What is the chemical formula of table salt?
Which is the smallest country in the world?
Who designed the Sagrada Família?
What is the Great Barrier Reef?
Which vitamin does the skin produce in sunlight?
What is the capital of Vietnam?
What is the main ingredient of guacamole?
When did World War I begin?
What is a light-year?
Who was Nelson Mandela?
What is the capital of Peru?
How many teeth does an adult human usually have?
What does a thermometer measure?
What is the largest island in the world?
What is the capital of Turkey?
Which animal is the fastest on land?
What is the binary representation of the number 10?
Who invented the World Wide Web?
What is the plural of "cactus"?
Which country produces the most coffee?
What is the capital of New Zealand?
How many days are there in a leap year?
What is the function of red blood cells?
What does GDP measure?
Which is the coldest continent?
Who wrote "The Little Prince"?
What is the difference between a virus and a bacterium?
What is the capital of Morocco?
What is the Pythagorean theorem?
Which planet is closest to the Sun?
How many time zones does Russia have?
What is the largest bird in the world?
Who was the first person in space?
What is the capital of Switzerland?
What does a sommelier do?
How many colors are in a rainbow?
What is the highest waterfall in the world?
Which organ filters blood in the human body?
What is the capital of Thailand?
What is the meaning of the Latin phrase "carpe diem"?
Which famous ship was commanded by Captain Ahab?
What does RAM stand for in computing?
How old is the universe, approximately?
What is the capital of Chile?
Who founded the Ottoman Empire?
What is a haiku?
What is the capital of Ireland?
What do bees produce besides honey?
How many legs does a spider have?
What is the official currency of the United Kingdom?
What is the largest city in Canada?
What are the three primary colors of light?
Who wrote "Don Quixote"?
What is the main language of Quebec?
What is the capital of Finland?
Which mountain range separates Europe and Asia?
What is the difference between an alligator and a crocodile?
How does a rainbow form?
What is the capital of Nigeria?
Who is credited with inventing the printing press in Europe?
What are the noble gases?
What is the capital of Portugal?
How many players are on a basketball team on the court?
What is an isotope?
What is the capital of Colombia?
Which sea is the saltiest?
What is the Fibonacci sequence?
What is the capital of Greece?
What is the tallest building in the world?
Why do cats purr?
Which planet has the Great Red Spot?
What does a CPU do?
How many years are in a century?
What is the capital of Poland?
What is the Rosetta Stone?
""")

QUESTION_STYLES = lines("""
{q}
{q}
{q}
{q} Answer in one sentence.
{q} Answer briefly.
{q} Give a short answer and one interesting related fact.
Question: {q}
Answer the following question concisely. {q}
Quick question: {q}
{q} Keep it under 30 words.
""")

CONCEPTS = lines("""
gravity
photosynthesis
the internet
electricity
why the sky is blue
how vaccines work
what money is
how airplanes fly
inflation
recycling
the water cycle
how computers store information
what DNA is
time zones
how a rainbow forms
what a black hole is
democracy
the immune system
how batteries work
climate change
why we need sleep
how a bill becomes a law
what an algorithm is
how bees make honey
the solar system
what a virus is
how magnets work
why leaves change color in autumn
the stock market
what artificial intelligence is
how the heart works
erosion
what a calendar year is based on
how sound travels
the food chain
what a map scale means
how plants drink water
what atoms are
how a refrigerator keeps food cold
why the Moon changes shape
what taxes are for
how a compass works
how GPS knows where you are
what an earthquake is
how soap cleans hands
what a budget is
why the ocean is salty
how telescopes work
encryption
cloud computing
how the eye sees color
what bacteria are
how a camera takes a picture
the difference between weather and climate
what insurance is
how trains stay on the tracks
what fractions are
how we breathe
why ice floats
how the Internet sends an email
what a volcano is
supply and demand
how fish breathe underwater
what a spreadsheet is
how thunder happens
what a museum is for
why we have seasons
how the brain learns
compound interest
what a password is and why it matters
how a seed grows into a tree
what a programming language is
why some things float and others sink
how a bridge holds weight
what electricity bills measure
how elections work
why dinosaurs went extinct
how solar panels work
what a dictionary is for
how the post office delivers letters
""")

AUDIENCES = lines("""
a five-year-old
a seven-year-old
a ten-year-old
a curious child
a teenager
my grandmother
someone with no technical background
""")

PRODUCTS = fields("""
TrailLite 2 | ultralight backpacking tent | 1.1 kg, two-person, waterproof fly, 5-minute setup
BrewMate Pro | programmable coffee maker | 12 cups, thermal carafe, built-in grinder, timer
Nimbus | memory-foam pillow | cooling gel layer, adjustable height, washable cover
PixelPen S | digital drawing tablet | 8192 pressure levels, battery-free pen, USB-C
AquaPure | countertop water filter | removes chlorine and lead, 3-month filter, no installation
StrideRun 5 | running shoe | breathable mesh, responsive foam, reflective details
Lumen Desk | LED desk lamp | adjustable color temperature, wireless charging base, dimmer
Kinder Blocks | wooden building blocks for toddlers | 60 pieces, non-toxic paint, storage bag
EchoBuds | wireless earbuds | active noise cancelling, 28-hour battery, water resistant
GreenSprout | indoor herb garden | self-watering, grow light, grows basil, mint and parsley
VoltRide | folding electric bike | 60 km range, 20 kg, folds in 15 seconds
ChefEdge | Japanese chef's knife | 20 cm blade, Damascus steel, walnut handle
CloudStep | slippers | memory foam, non-slip sole, machine washable
SnapShot Mini | instant camera | prints credit-card-sized photos, selfie mirror, five colors
TaskFlow | project management app | kanban boards, time tracking, integrates with calendars
HomeGuard | smart doorbell | HD video, two-way audio, motion alerts, no subscription needed
FreshBox | meal-kit subscription | three dinners a week, 30-minute recipes, recyclable packaging
PawPal | automatic pet feeder | schedules up to six meals, voice recording, app control
SolarGo | portable solar charger | 21 W, charges two phones at once, foldable
Harbor | linen bedding set | stonewashed European linen, breathable, gets softer with every wash
Quill | fountain pen | steel nib, converter included, available in four colors
CozyNest | baby carrier | ergonomic, four carrying positions, breathable fabric
SpeakEasy | language-learning app | five-minute daily lessons, speech recognition, offline mode
IronCore | adjustable dumbbells | 2 to 24 kg each, quick-change dial, compact stand
TerraMug | insulated travel mug | keeps drinks hot for 8 hours, leak-proof lid, fits cup holders
ClearView | anti-fog swimming goggles | UV protection, adjustable strap, wide field of view
BookNook | e-reader | glare-free screen, adjustable warm light, weeks of battery
Maple & Co | handmade soap set | olive oil base, essential oils, plastic-free packaging
Orbit | smart thermostat | learns your schedule, energy reports, works with voice assistants
TrekPack 40 | hiking backpack | 40 litres, rain cover, ventilated back panel
Sparkle | electric toothbrush | four modes, pressure sensor, 30-day battery
Crumb | bread machine | 15 programs, gluten-free setting, delay timer
PlayDome | children's play tent | foldable, washable, glow-in-the-dark stars
StudyBuddy | noise-masking desk fan | whisper-quiet, white-noise mode, USB powered
VeloLock | smart bike lock | fingerprint unlock, alarm, 12-month battery
Meridian | men's wristwatch | automatic movement, sapphire glass, 100 m water resistance
PureAir 300 | air purifier | HEPA filter, covers 30 m², quiet night mode, air quality sensor
Nomad | carry-on suitcase | hard shell, 360° wheels, built-in TSA lock, laptop pocket
Sketchbook Pro | artist's sketchbook | 200 g paper, lay-flat binding, 120 pages
FitLoop | resistance bands set | five strengths, door anchor, carry bag, exercise guide
Zen Garden | desktop sand garden | bamboo tray, rake, stones, calming gift
StormShell | rain jacket | waterproof and breathable, packable hood, recycled fabric
SafeSteps | baby gate | pressure mounted, auto-close door, fits openings 75-100 cm
CityHopper | kick scooter for adults | foldable, large wheels, hand brake
GlowUp | ring light | three light modes, phone holder, tripod stand
Terra | ceramic dinnerware set | 16 pieces, dishwasher safe, hand-glazed
BeanCounter | personal finance app | automatic categorization, budgets, bill reminders
Haven | weighted blanket | 7 kg, breathable cotton, glass beads
Sonic | portable Bluetooth speaker | 360° sound, waterproof, 20-hour battery
Puzzle Quest | 1000-piece jigsaw puzzle | illustrated world map, poster included
""")

DESCRIPTION_SPECS = lines("""
Write a product description for {name}, {a_kind}. Features: {features}.
Write a 50-word product description for {name} ({kind}) highlighting: {features}.
Write an Amazon-style listing with a title and five bullet points for {name}, {a_kind}. Key facts: {features}.
Write a playful product description for {name}, {a_kind}, aimed at young professionals. Features: {features}.
Write a short, persuasive product description for {name}, {a_kind}, for a gift guide. Features: {features}.
Write a product description for {name}, {a_kind}, for customers who care about quality over price. Features: {features}.
Write a two-sentence product blurb for {name} ({kind}). Mention: {features}.
Write a product description for {name}, {a_kind}, in a calm, minimalist brand voice. Features: {features}.
""")

SQL_SCHEMAS = fields("""
employees(id, name, department, salary, hire_date, manager_id) | the three highest-paid employees in each department ; the number of employees hired each year ; employees who earn more than their manager ; the average salary per department, highest first ; departments with more than ten employees ; employees hired in the last 90 days
orders(id, customer_id, order_date, total, status), customers(id, name, country, signup_date) | total revenue per country ; customers who have never placed an order ; the ten customers with the highest total spend ; monthly revenue for 2024 ; the average order value per customer ; orders that are still pending after seven days
products(id, name, category, price, stock), sales(id, product_id, quantity, sold_at) | products that are out of stock ; the best-selling product in each category ; total units sold per week ; products that never sold ; revenue per category last month ; products whose price is above their category average
students(id, name, grade_level), enrollments(student_id, course_id, score), courses(id, title, teacher) | the average score per course ; students enrolled in more than three courses ; the top student in each course ; courses with no enrollments ; each teacher's number of students ; students whose average score is below 60
flights(id, origin, destination, departure, arrival, airline), bookings(id, flight_id, passenger, price) | the busiest route by number of bookings ; flights with no bookings ; the average ticket price per airline ; flights longer than six hours ; passengers who flew more than five times ; the most popular destination each month
posts(id, user_id, created_at, title), comments(id, post_id, user_id, created_at, body), users(id, username) | the ten posts with the most comments ; users who have commented but never posted ; the number of posts per user per month ; posts with no comments ; the most active commenter ; the latest comment on every post
tickets(id, opened_at, closed_at, priority, agent_id), agents(id, name, team) | the average resolution time per agent ; open tickets older than three days ; the number of high-priority tickets per team ; agents with no closed tickets this week ; the median resolution time by priority ; tickets closed within one hour
rentals(id, bike_id, start_station, end_station, started_at, ended_at), stations(id, name, district) | the most popular start station ; the average rental duration per district ; bikes not rented in the last 30 days ; rentals that ended at the same station they started ; the busiest hour of the day ; the number of rentals per day last week
""")

SQL_DIALECTS = lines("""
PostgreSQL
MySQL
SQLite
standard SQL
""")

EMAIL_SITUATIONS = lines("""
ask my manager for two days off next month
decline a meeting invitation politely because of a conflict
follow up with a client who hasn't answered a quote for two weeks
thank a colleague for covering my shift
request a refund for a faulty laptop bought last week
introduce myself to a new team I will be leading
apologize to a customer for a delayed delivery
ask a professor for an extension on an assignment
remind the team about the deadline on Friday
invite colleagues to a farewell lunch for a retiring coworker
ask a landlord to fix a broken heater
request a letter of recommendation from a former supervisor
inform clients that our office is moving to a new address
negotiate a later start date for a new job
complain to a hotel about a noisy room
confirm the details of a job interview
ask a supplier for a discount on a large order
announce a new product feature to beta users
tell a client that a project will cost more than estimated
welcome a new employee on their first day
reply to a customer asking how to reset their password
ask a neighbor to keep their dog quiet at night
request feedback after a job interview
cancel a subscription and ask for confirmation
propose a collaboration to a local business
follow up after a networking event
ask for a salary review
notify users of planned maintenance on Saturday night
thank a speaker for presenting at our conference
ask a vendor why an invoice is higher than agreed
""")

EMAIL_TONES = lines("""
polite and concise
warm and friendly
formal
firm but polite
brief
""")

FUNCTIONS = lines("""
checks whether a string is a valid email address
returns the n-th Fibonacci number iteratively
merges two sorted lists into one sorted list
counts the vowels in a string
converts a temperature from Celsius to Fahrenheit
removes duplicates from a list while keeping the original order
finds the most frequent word in a text
checks whether a year is a leap year
flattens a nested list of any depth
returns the second largest number in a list
validates a password: at least 8 characters, one digit and one uppercase letter
converts a Roman numeral to an integer
splits a list into chunks of size n
computes the average of a list, returning None for an empty list
reverses the words in a sentence
checks whether two strings are anagrams
parses a date string like "2024-03-15" and returns the weekday name
calculates the compound interest on a deposit
groups a list of dictionaries by a given key
returns all prime numbers below n
converts snake_case to camelCase
finds the longest common prefix of a list of strings
rotates a matrix 90 degrees clockwise
retries a function up to three times with exponential backoff
reads a CSV file and returns the sum of one column
checks whether brackets in a string are balanced
computes the Levenshtein distance between two strings
formats a number of seconds as HH:MM:SS
returns the median of a list of numbers
masks all but the last four digits of a credit card number
""")

PROGRAMMING_LANGUAGES = lines("""
Python
Python
Python
JavaScript
TypeScript
Go
Java
Rust
C#
Ruby
""")

REGEX_NEEDS = lines("""
US ZIP codes, with or without the four-digit extension
dates in the format YYYY-MM-DD
hexadecimal color codes like #fff or #1a2b3c
IPv4 addresses
lines that start with a timestamp like [12:34:56]
words that are repeated twice in a row
phone numbers like (555) 123-4567
UK postcodes
URLs that start with http or https
strings that contain only letters and spaces
time values in 24-hour format like 23:59
semantic version numbers like 1.2.3
email addresses ending in .edu
prices like $19.99 or $5
Twitter-style hashtags
lines containing the word ERROR but not the word retry
integers between 1 and 100
file names ending in .jpg, .jpeg or .png
duplicate spaces between words
""")

BRAINSTORM = lines("""
names for a neighborhood coffee shop
names for a productivity app
ideas for a team-building activity for a remote team
themes for a child's seventh birthday party
blog post ideas for a small bakery
ways to reduce plastic at home
low-cost marketing ideas for a local bookstore
names for a podcast about personal finance
questions to ask in a job interview as a candidate
weekend activities for a rainy day with kids
gift ideas for a colleague who loves gardening
taglines for an electric bike brand
fundraising ideas for a school library
names for a golden retriever puppy
ways to make a long commute more productive
icebreaker questions for a workshop
healthy snacks to bring to the office
ideas for a science fair project about water
names for a board game about space exploration
ways to welcome new employees in their first week
topics for a newsletter about sustainable living
ideas for reusing glass jars
names for a vegan food truck
ways to practice a new language every day
features for a habit-tracking app
ideas for a community event in a small town
ways to reduce meeting time at work
names for a hiking club
creative ways to celebrate a work anniversary
questions to ask customers in a product survey
""")

COMPARE = fields("""
cats | dogs | as pets for a small apartment
renting | buying a home | for a young couple
Python | JavaScript | as a first programming language
trains | planes | for a 600 km trip
electric cars | hybrid cars | for a daily commute
e-books | printed books | for students
SQL databases | NoSQL databases | for a new web application
tea | coffee | for health
working from home | working in an office | for productivity
running | swimming | as exercise
savings accounts | index funds | for long-term savings
Android | iOS | for a first smartphone
hiking boots | trail runners | for day hikes
gas stoves | induction cooktops | for a home kitchen
freelancing | full-time employment | for a graphic designer
public transport | cycling | in a big city
laptops | tablets | for university
monoliths | microservices | for a small startup
paper notebooks | note-taking apps | for meetings
solar power | wind power | for a small island
a gap year | going straight to university | after high school
learning guitar | learning piano | for an adult beginner
spring | autumn | for visiting Japan
REST | GraphQL | for a mobile app backend
a credit card | a debit card | for travel abroad
Git merge | Git rebase | for a team workflow
""")

ANNOUNCEMENTS = lines("""
our bakery now offers gluten-free bread on Saturdays
the city library is extending its opening hours
our app now supports dark mode
a charity run this Sunday in Riverside Park
our startup just reached 10,000 users
a new podcast episode about remote work
the office is switching to a four-day week pilot
our spring sale with 20 percent off all plants
a free coding workshop for teenagers
the reopening of a renovated swimming pool
a new vegan option on our restaurant menu
our company planted 5,000 trees this year
a job opening for a junior designer
our museum's new dinosaur exhibition
a webinar on personal cybersecurity
the launch of our second store in the old town
a volunteer day at the animal shelter
a price cut on our annual subscription
our team won an industry award
a new bike lane connecting the station and the university
""")

PLATFORMS = lines("""
a tweet
a LinkedIn post
an Instagram caption
a short Facebook post
a push notification
""")

ESSAY_TOPICS = lines("""
the impact of smartphones on teenagers
why cities should invest in public transport
the history of the bicycle
how to start running as a beginner
the pros and cons of remote work
why sleep matters for students
how artificial intelligence is changing healthcare
the benefits of learning a second language
how to build a personal budget
the role of bees in agriculture
why everyone should learn basic cooking
the future of electric aviation
how social media affects news consumption
tips for a first job interview
the environmental cost of fast fashion
how to start a vegetable garden
the importance of open-source software
how museums can attract younger visitors
the benefits of reading fiction
how small businesses can use data
lessons from the history of pandemics
how to reduce food waste at home
why cybersecurity matters for small companies
the rise of e-sports
how to prepare for a marathon
the pros and cons of nuclear energy
how to onboard new developers effectively
why handwriting still matters
the benefits of volunteering
how to plan a trip on a budget
""")

OUTLINE_KINDS = lines("""
Write an outline for a blog post about {topic}.
Create a five-section outline for an essay on {topic}.
Suggest a title and an outline for a 10-minute talk about {topic}.
Write an introduction paragraph for an article about {topic}.
Give me five key points for a presentation on {topic}.
Write a catchy headline and a two-sentence hook for an article about {topic}.
""")

INGREDIENTS = lines("""
chicken thighs
chickpeas
spinach
rice
eggs
tomatoes
feta cheese
potatoes
lentils
salmon
tofu
mushrooms
zucchini
pasta
bell peppers
coconut milk
black beans
sweet potatoes
broccoli
ground beef
carrots
onions
garlic
lemons
yogurt
oats
bananas
quinoa
cabbage
shrimp
""")

MEAL_CONSTRAINTS = lines("""
in under 30 minutes
that is vegetarian
for two people
that a beginner can cook
using only one pan
that is good for meal prep
without an oven
that kids will like
""")

FIRST_NAMES = lines("""
Aisha
Ben
Carla
Daniel
Elena
Farid
Grace
Hiroshi
Ingrid
Jamal
Katarzyna
Liam
Mei
Nikolai
Olivia
Pedro
Quentin
Rosa
Samuel
Tanvi
Umar
Valentina
Wei
Yara
Zoe
""")

LAST_NAMES = lines("""
Abbott
Becker
Castillo
Dubois
Eriksen
Fernandes
Gupta
Hoffmann
Ivanova
Johnson
Kowalski
Lambert
Moreau
Nakamura
Okonkwo
Petrova
Rossi
Schmidt
Tanaka
Usman
Vargas
Williams
Yilmaz
Zhang
""")

COMPANIES = lines("""
Northwind Traders
Bluepeak Analytics
Solara Energy
Greenfield Foods
Atlas Robotics
Brightwave Media
Cobalt Bank
Harborview Hospital
Kestrel Airlines
Lumina Software
Meridian Insurance
Orchard Health
Pinecrest University
Quantum Freight
Redwood Architects
Silverline Telecom
""")

CITIES = lines("""
Lisbon
Nairobi
Toronto
Melbourne
Osaka
São Paulo
Warsaw
Dublin
Singapore
Cape Town
Vancouver
Lyon
Seoul
Austin
Edinburgh
Bogotá
""")

ROLES = lines("""
data analyst
head of marketing
software engineer
product manager
nurse
operations director
customer success lead
financial controller
research scientist
UX designer
""")

WORDS = lines("""
resilient
ubiquitous
serendipity
meticulous
ephemeral
candid
pragmatic
ambiguous
diligent
eloquent
frugal
gregarious
inevitable
lucid
nostalgia
obsolete
plausible
reluctant
scrutinize
tenacious
versatile
whimsical
benevolent
cautious
elaborate
""")

WORD_TASKS = lines("""
Synonyms for "{w}"?
Give three antonyms of "{w}".
Define "{w}".
What does "{w}" mean? Use it in a sentence.
Write a sentence using the word "{w}".
Is "{w}" formal or informal?
""")

TICKET_CATEGORIES = (
    "billing, technical issue, account access, shipping, feature request, feedback, other"
)
