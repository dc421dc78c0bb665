"""What a synthetic leak line looks like: the layout of each region's file, the roles a line
can take (record, duplicate, one of the quirks), and the made-up content of its fields."""
from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from ..builder.layouts import CSV_COLUMNS, DATA_CLASSES, FB12, FB17, Layout

#: Lines generated per internal chunk (also the unit of the random streams).
CHUNK_LINES = 1 << 16
#: Default rows per chunk yielded by :func:`synthetic_key_source`.
KEY_CHUNK_ROWS = 1 << 20

#: Reject reasons a reader must report, in this order.
REJECT_REASONS: tuple[str, ...] = (
    "phone_empty",
    "phone_not_digits",
    "phone_too_short",
    "phone_too_long",
)

#: Layout of each region's file. The real dump's per-country layouts are not recorded here;
#: this is a fixed, made-up split so both colon layouts occur. The UK is CSV with a header, as
#: in the dump. Regions not listed: ``fb17`` if the sum of the code's letters is even, else
#: ``fb12``.
REGION_LAYOUTS: dict[str, str] = {
    "EG": "fb17", "TN": "fb17", "SA": "fb17", "FR": "fb17", "TR": "fb17", "MA": "fb17",
    "DZ": "fb17",
    "IT": "fb12", "US": "fb12", "ES": "fb12", "NG": "fb12", "IN": "fb12", "DE": "fb12",
    "NL": "fb12", "BE": "fb12",
    "GB": "csv",
}  # fmt: skip

#: Header row of the CSV file (every name is a key of layouts.CSV_COLUMNS).
CSV_HEADER: tuple[str, ...] = (
    "phone", "facebook_id", "first_name", "last_name", "gender", "location", "hometown",
    "relationship_status", "employer", "email", "birth_date", "created_at",
)  # fmt: skip
CSV_LAYOUT = Layout("csv", tuple(CSV_COLUMNS[c] for c in CSV_HEADER), separator=",", csv=True)
LAYOUTS: dict[str, Layout] = {"fb17": FB17, "fb12": FB12, "csv": CSV_LAYOUT}

# Line roles. The role of a line comes from one uniform draw u: the first interval is the
# duplicate rate, then one interval of quirk_rate for each quirk, in this order.
ROLE_DUP, ROLE_PLUS, ROLE_BADUTF8, ROLE_FEW, ROLE_EMPTY, ROLE_SHORT, ROLE_LONG, ROLE_LETTERS, ROLE_NORMAL = range(9)
N_ROLES = 9
ROLE_REASON = {ROLE_EMPTY: "phone_empty", ROLE_LETTERS: "phone_not_digits", ROLE_SHORT: "phone_too_short",
               ROLE_LONG: "phone_too_long"}  # fmt: skip
#: Records whose fields do not fit their layout, as a reader must count them: a too-few-fields
#: line is a record with what it has (it repeats an earlier number of its file)
RECORD_FITS: tuple[str, ...] = ("short_line",)
ROLE_FIT = {ROLE_FEW: "short_line"}
#: the roles whose lines are records
RECORD_ROLES = (ROLE_NORMAL, ROLE_DUP, ROLE_PLUS, ROLE_BADUTF8, ROLE_FEW)

MAX_QUIRK_RATE = 0.1
MAX_DUPLICATE_RATE = 0.5
DEFAULT_FILE_QUIRK_RATE = 0.25
REGION_FILL_LIMIT = 0.95  # at most this share of a region's number space is used
PARALLEL_MIN_ROWS = 200_000  # below this, write_leak(workers=None) stays in one process

# Purposes of the derived random streams (part of the spawn key).
STREAM_CORE, STREAM_TEXT, STREAM_FILES, STREAM_PERM, STREAM_POOLS = 1, 2, 3, 4, 5

#: Probability that a synthetic record exposes each data class. Each class is
#: drawn on its own. The values are plausible estimates, not measurements.
#: Every leaked row has a phone number and nearly every row has a Facebook ID
#: and a name. Surfshark's analysis of the leak reported location in ~61% and
#: employer in ~18% of profiles. Have I Been Pwned found only ~2.5M email
#: addresses among 533M rows (~0.5%); Surfshark's estimate was higher (~4.8%).
#: Birth dates are rare. The remaining values are informed guesses.
DATA_CLASS_PROBABILITIES: Mapping[str, float] = MappingProxyType(
    {
        "phone_number": 1.0,
        "facebook_id": 0.995,
        "name": 0.98,
        "gender": 0.85,
        "location": 0.60,
        "hometown": 0.45,
        "relationship_status": 0.30,
        "employer": 0.18,
        "email_address": 0.005,
        "date_of_birth": 0.02,
        "account_dates": 0.50,
    }
)

CLASS_BIT = {c: 1 << i for i, c in enumerate(DATA_CLASSES)}
OPTIONAL_CLASSES = DATA_CLASSES[1:]

# --------------------------------------------------------------------------- made-up content
# Common given names and surnames per region (random pairs of them name no one in particular),
# locations in Facebook's "City, Country" style, and made-up employers.

REGION_TEXT: dict[str, tuple[str, str, str, str, str]] = {
    # region: (country, male first names, female first names, surnames, cities) ("|"-separated)
    "EG": ("Egypt", "Mohamed|Ahmed|Mahmoud|Mostafa|Omar|Karim|Youssef|Tarek|محمد|أحمد",
           "Fatma|Mariam|Nour|Yasmin|Heba|Aya|Salma|Dina|فاطمة|مريم",
           "Hassan|Ibrahim|Ali|Mahmoud|Abdelrahman|Fathy|Saleh|Mansour|Farouk|حسن|علي",
           "Cairo|Alexandria|Giza|Mansoura|Tanta|Asyut|Port Said|Luxor"),
    "TN": ("Tunisia", "Mohamed|Amine|Aymen|Hamza|Walid|Skander|Bilel|Anis",
           "Amira|Ines|Rim|Sarra|Mariem|Olfa|Asma|Nesrine",
           "Ben Ali|Trabelsi|Gharbi|Jebali|Hammami|Ben Salah|Mejri|Ayari|Dridi|Chaabane",
           "Tunis|Sfax|Sousse|Kairouan|Bizerte|Gabès|Monastir|Nabeul"),
    "IT": ("Italy", "Marco|Luca|Giuseppe|Francesco|Alessandro|Andrea|Matteo|Lorenzo",
           "Giulia|Francesca|Chiara|Sara|Martina|Elena|Valentina|Federica",
           "Rossi|Russo|Ferrari|Esposito|Bianchi|Romano|Colombo|Ricci|Marino|Greco|De Luca",
           "Roma|Milano|Napoli|Torino|Palermo|Bologna|Firenze|Bari"),
    "US": ("", "James|Michael|Robert|David|Chris|Daniel|Matthew|Anthony",
           "Jennifer|Jessica|Ashley|Sarah|Emily|Amanda|Melissa|Nicole",
           "Smith|Johnson|Williams|Brown|Jones|Garcia|Miller|Davis|Rodriguez|Martinez",
           "New York, New York|Los Angeles, California|Houston, Texas|Chicago, Illinois|"
           "Phoenix, Arizona|Atlanta, Georgia|Columbus, Ohio|Seattle, Washington"),
    "SA": ("Saudi Arabia", "Abdullah|Mohammed|Fahad|Khalid|Saud|Faisal|Turki|Nasser|عبدالله",
           "Nora|Sara|Reem|Lama|Hessa|Maha|Amal|Abeer|نورة",
           "Al-Otaibi|Al-Qahtani|Al-Ghamdi|Al-Harbi|Al-Zahrani|Al-Dosari|Al-Shehri|Al-Mutairi",
           "Riyadh|Jeddah|Mecca|Medina|Dammam|Taif|Tabuk|Abha"),
    "FR": ("France", "Thomas|Nicolas|Julien|Maxime|Kevin|Romain|Antoine|Léo",
           "Marie|Camille|Léa|Manon|Chloé|Julie|Sarah|Inès",
           "Martin|Bernard|Dubois|Thomas|Robert|Richard|Petit|Durand|Leroy|Moreau|Lefèvre",
           "Paris|Marseille|Lyon|Toulouse|Nice|Nantes|Lille|Strasbourg"),
    "TR": ("Turkey", "Mehmet|Mustafa|Ahmet|Ali|Hüseyin|Emre|Burak|Murat",
           "Ayşe|Fatma|Zeynep|Elif|Emine|Merve|Büşra|Özge",
           "Yılmaz|Kaya|Demir|Şahin|Çelik|Yıldız|Yıldırım|Öztürk|Aydın|Arslan",
           "İstanbul|Ankara|İzmir|Bursa|Antalya|Konya|Adana|Gaziantep"),
    "MA": ("Morocco", "Mohamed|Youssef|Hamza|Mehdi|Omar|Anas|Yassine|Ayoub",
           "Fatima Zahra|Khadija|Salma|Imane|Sanaa|Hajar|Meryem|فاطمة",
           "Alaoui|Benali|El Amrani|Idrissi|Bennani|Tazi|Chraibi|El Fassi",
           "Casablanca|Rabat|Marrakech|Fès|Tanger|Agadir|Meknès|Oujda"),
    "GB": ("United Kingdom", "Oliver|Jack|Harry|George|James|Thomas|Daniel|Liam",
           "Olivia|Amelia|Emily|Sophie|Charlotte|Jessica|Hannah|Chloe",
           "Smith|Jones|Taylor|Brown|Williams|Wilson|Davies|Evans|O'Brien|Walker",
           "London|Manchester|Birmingham|Leeds|Glasgow|Liverpool|Bristol|Cardiff"),
    "DZ": ("Algeria", "Mohamed|Yacine|Amine|Karim|Sofiane|Bilal|Redouane|Nassim",
           "Amina|Meriem|Sabrina|Lamia|Nadia|Samira|Yasmine|أمينة",
           "Benali|Belkacem|Hamidi|Saidi|Mebarki|Cherif|Haddad|Zerrouki",
           "Alger|Oran|Constantine|Annaba|Blida|Sétif|Batna|Tlemcen"),
    "ES": ("Spain", "Antonio|José|Manuel|Francisco|David|Javier|Daniel|Sergio",
           "María|Carmen|Laura|Lucía|Marta|Ana|Cristina|Paula",
           "García|Fernández|González|Rodríguez|López|Martínez|Sánchez|Pérez|Gómez|Muñoz",
           "Madrid|Barcelona|Valencia|Sevilla|Zaragoza|Málaga|Bilbao|Murcia"),
    "NG": ("Nigeria", "Chinedu|Emeka|Oluwaseun|Tunde|Ibrahim|Chukwuemeka|Segun|Musa",
           "Ngozi|Chioma|Aisha|Funmilayo|Blessing|Adaeze|Folake|Amina",
           "Okafor|Adeyemi|Okonkwo|Bello|Eze|Ogunleye|Nwosu|Abubakar|Adebayo|Obi",
           "Lagos|Abuja|Kano|Ibadan|Port Harcourt|Benin City|Enugu|Kaduna"),
    "IN": ("India", "Rahul|Amit|Rohit|Vikram|Arjun|Suresh|Rajesh|Anil",
           "Priya|Pooja|Anjali|Neha|Divya|Sneha|Kavya|Lakshmi",
           "Sharma|Kumar|Singh|Patel|Gupta|Reddy|Nair|Iyer|Das|Verma",
           "Mumbai|Delhi|Bangalore|Hyderabad|Chennai|Kolkata|Pune|Jaipur"),
    "DE": ("Germany", "Lukas|Jonas|Felix|Maximilian|Jan|Tobias|Florian|Stefan",
           "Anna|Laura|Julia|Lena|Sophie|Katharina|Lisa|Jana",
           "Müller|Schmidt|Schneider|Fischer|Weber|Meyer|Wagner|Becker|Schulz|Hoffmann",
           "Berlin|Hamburg|München|Köln|Frankfurt am Main|Stuttgart|Düsseldorf|Leipzig"),
    "NL": ("Netherlands", "Daan|Sem|Lucas|Jesse|Thijs|Bram|Ruben|Stijn",
           "Emma|Sanne|Lotte|Anouk|Fleur|Iris|Femke|Noor",
           "de Jong|Jansen|de Vries|van den Berg|van Dijk|Bakker|Janssen|Visser|Smit|Meijer",
           "Amsterdam|Rotterdam|Den Haag|Utrecht|Eindhoven|Groningen|Tilburg|Nijmegen"),
    "BE": ("Belgium", "Lucas|Louis|Arthur|Noah|Thomas|Wout|Maxime|Jens",
           "Emma|Louise|Marie|Lore|Julie|Elise|Charlotte|Amélie",
           "Peeters|Janssens|Maes|Jacobs|Mertens|Willems|Claes|Goossens|Dubois|Lambert",
           "Brussels|Antwerpen|Gent|Charleroi|Liège|Brugge|Leuven|Namur"),
}
FALLBACK_TEXT = ("", "Adam|David|Samuel|Daniel|Ali|Lucas|Ivan|Leo",
                  "Sara|Maria|Anna|Lina|Nadia|Eva|Mia|Nina",
                  "Novak|Silva|Costa|Kim|Nguyen|Popescu|Horvat|Kowalski|Petrov|Santos",
                  "Capital City|Port Town|Riverside|Hillview|Lakeside|Old Town")
EMPLOYERS = (
    "Self-employed|Student|Freelance|Northwind Trading|Blue Harbor Logistics|"
    "Cedar & Stone Builders|Sunrise Bakery|Greenfield Farms|City Hospital|Ministry of Education|"
    "Atlas Motors|Harbor View Hotel|Bright Minds School|Metro Taxi Co.|Golden Spoon Restaurant|"
    "Smith, Jones & Partners|Pixel Forge Studio|The \"Corner\" Shop|Riverside Pharmacy|Orbit Telecom"
).split("|")
# relationship statuses, repeated to weight them (Single and Married are most common)
RELATIONSHIP = ("Single|Single|Single|Married|Married|Married|In a relationship|In a relationship|"
                 "Engaged|It's complicated|Divorced|Widowed").split("|")
# first names as raw Latin-1 bytes (mojibake), never valid UTF-8 before a separator
BAD_UTF8_NAMES = (b"Jos\xe9", b"Fran\xe7ois", b"M\xfcller", b"Ren\xe9e", b"G\xfcl", b"Se\xf1or",
                   b"\xc9lodie", b"Jo\xe3o", b"Bj\xf6rn", b"Ch\xe9rif")
EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def layout_name(region: str) -> str:
    name = REGION_LAYOUTS.get(region)
    if name is None:
        name = "fb17" if sum(map(ord, region)) % 2 == 0 else "fb12"
    return name


def file_name(region: str, layout: str) -> str:
    return f"{region}.{'csv' if layout == 'csv' else 'txt'}"


def region_key(region: str) -> int:
    return int.from_bytes(region.encode("ascii"), "big")


def random_stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def as_raw_text(s: str) -> str:
    """Text as the str whose code points are its UTF-8 bytes (so latin-1 encoding writes UTF-8)."""
    return s.encode("utf-8").decode("latin-1")


def csv_quote(s: str) -> str:
    if any(ch in s for ch in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def ascii_word(s: str) -> str:
    folded = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")
    word = "".join(ch for ch in folded.lower() if ch.isalnum())
    return word
