"""Reference data the generator draws from: places and their networks, names, departments, subjects, apps.

Nothing here is random; the population and the incidents pick from these tables with their own streams.
IP prefixes are plausible for their countries but invented; external domains use the reserved ``.example`` TLD.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    name: str
    state: str | None
    lat: float
    lon: float


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    tz: str
    cities: tuple[City, ...]
    prefixes: tuple[str, ...]  # "a.b": addresses are drawn as a.b.x.y
    phone: str  # international dialling prefix

    @property
    def iso(self) -> str:
        """The ISO 3166 code (regional keys like "US-W" share their country's)."""
        return self.code.split("-")[0]


def _c(code: str, name: str, tz: str, cities: list[tuple[str, str | None, float, float]], prefixes: str,
       phone: str) -> Country:
    return Country(code, name, tz, tuple(City(*c) for c in cities), tuple(prefixes.split()), phone)


COUNTRIES: dict[str, Country] = {c.code: c for c in [
    _c("GB", "United Kingdom", "Europe/London",
       [("London", "England", 51.51, -0.13), ("Manchester", "England", 53.48, -2.24),
        ("Leeds", "England", 53.80, -1.55), ("Bristol", "England", 51.45, -2.59)],
       "81.2 86.128 51.148 90.196 109.144 2.24", "+44"),
    _c("US", "United States", "America/New_York",
       [("New York", "New York", 40.71, -74.01), ("Boston", "Massachusetts", 42.36, -71.06),
        ("Philadelphia", "Pennsylvania", 39.95, -75.17), ("Newark", "New Jersey", 40.74, -74.17)],
       "73.15 24.5 98.207 108.28 67.180 71.190", "+1"),
    _c("US-C", "United States", "America/Chicago",
       [("Chicago", "Illinois", 41.88, -87.63), ("Austin", "Texas", 30.27, -97.74),
        ("Dallas", "Texas", 32.78, -96.80)],
       "76.229 99.36 107.77 136.49", "+1"),
    _c("US-W", "United States", "America/Los_Angeles",
       [("San Francisco", "California", 37.77, -122.42), ("Seattle", "Washington", 47.61, -122.33),
        ("Los Angeles", "California", 34.05, -118.24)],
       "50.35 67.160 73.162 104.32", "+1"),
    _c("DE", "Germany", "Europe/Berlin",
       [("Berlin", "Berlin", 52.52, 13.40), ("Munich", "Bavaria", 48.14, 11.58),
        ("Hamburg", "Hamburg", 53.55, 9.99), ("Frankfurt am Main", "Hesse", 50.11, 8.68)],
       "91.64 84.56 93.192 79.192 217.80", "+49"),
    _c("FR", "France", "Europe/Paris",
       [("Paris", "Ile-de-France", 48.86, 2.35), ("Lyon", "Auvergne-Rhone-Alpes", 45.76, 4.84),
        ("Toulouse", "Occitanie", 43.60, 1.44)],
       "90.12 86.246 92.184 176.128", "+33"),
    _c("IE", "Ireland", "Europe/Dublin",
       [("Dublin", "Dublin", 53.35, -6.26), ("Cork", "Cork", 51.90, -8.47)],
       "86.40 89.100 109.255", "+353"),
    _c("NL", "Netherlands", "Europe/Amsterdam",
       [("Amsterdam", "North Holland", 52.37, 4.90), ("Rotterdam", "South Holland", 51.92, 4.48),
        ("Utrecht", "Utrecht", 52.09, 5.12)],
       "84.80 145.53 213.127 62.45", "+31"),
    _c("IN", "India", "Asia/Kolkata",
       [("Bengaluru", "Karnataka", 12.97, 77.59), ("Pune", "Maharashtra", 18.52, 73.86),
        ("Hyderabad", "Telangana", 17.39, 78.49)],
       "49.36 117.196 103.21 182.73", "+91"),
    _c("AU", "Australia", "Australia/Sydney",
       [("Sydney", "New South Wales", -33.87, 151.21), ("Melbourne", "Victoria", -37.81, 144.96)],
       "1.128 101.160 120.16 203.45", "+61"),
    _c("CA", "Canada", "America/Toronto",
       [("Toronto", "Ontario", 43.65, -79.38), ("Ottawa", "Ontario", 45.42, -75.70),
        ("Montreal", "Quebec", 45.50, -73.57)],
       "99.224 70.48 142.113 24.114", "+1"),
    _c("ES", "Spain", "Europe/Madrid",
       [("Madrid", "Madrid", 40.42, -3.70), ("Barcelona", "Catalonia", 41.39, 2.17)],
       "88.12 83.44 95.120", "+34"),
    _c("JP", "Japan", "Asia/Tokyo", [("Tokyo", "Tokyo", 35.68, 139.69), ("Osaka", "Osaka", 34.69, 135.50)],
       "126.0 153.232 219.100", "+81"),
    _c("SG", "Singapore", "Asia/Singapore", [("Singapore", None, 1.35, 103.82)], "116.14 118.200 202.166", "+65"),
    _c("ZA", "South Africa", "Africa/Johannesburg",
       [("Johannesburg", "Gauteng", -26.20, 28.05), ("Cape Town", "Western Cape", -33.92, 18.42)],
       "41.13 105.224 196.210", "+27"),
    _c("PL", "Poland", "Europe/Warsaw",
       [("Warsaw", "Masovia", 52.23, 21.01), ("Krakow", "Lesser Poland", 50.06, 19.94)],
       "83.5 89.64 188.146", "+48"),
    _c("SE", "Sweden", "Europe/Stockholm",
       [("Stockholm", "Stockholm", 59.33, 18.07), ("Gothenburg", None, 57.71, 11.97)],
       "78.66 90.224 155.4", "+46"),
    _c("BR", "Brazil", "America/Sao_Paulo",
       [("Sao Paulo", "Sao Paulo", -23.55, -46.63), ("Rio de Janeiro", "Rio de Janeiro", -22.91, -43.17)],
       "177.32 189.4 200.150", "+55"),
    _c("MX", "Mexico", "America/Mexico_City", [("Mexico City", "CDMX", 19.43, -99.13)], "187.190 201.141", "+52"),
    _c("AE", "United Arab Emirates", "Asia/Dubai", [("Dubai", "Dubai", 25.20, 55.27)], "94.200 5.195", "+971"),
    _c("NG", "Nigeria", "Africa/Lagos", [("Lagos", "Lagos", 6.52, 3.38), ("Abuja", "FCT", 9.07, 7.40)],
       "105.112 102.89 197.210", "+234"),
    _c("RU", "Russia", "Europe/Moscow",
       [("Moscow", "Moscow", 55.76, 37.62), ("Saint Petersburg", "Saint Petersburg", 59.93, 30.36)],
       "95.165 188.162 5.188", "+7"),
    _c("CN", "China", "Asia/Shanghai",
       [("Shanghai", "Shanghai", 31.23, 121.47), ("Shenzhen", "Guangdong", 22.54, 114.06)],
       "112.96 183.14", "+86"),
    _c("VN", "Vietnam", "Asia/Ho_Chi_Minh",
       [("Hanoi", "Hanoi", 21.03, 105.85), ("Ho Chi Minh City", None, 10.82, 106.63)],
       "14.161 113.161 171.224", "+84"),
    _c("RO", "Romania", "Europe/Bucharest", [("Bucharest", "Bucharest", 44.43, 26.10)], "89.38 86.121", "+40"),
    _c("ID", "Indonesia", "Asia/Jakarta", [("Jakarta", "Jakarta", -6.21, 106.85)], "36.72 114.124", "+62"),
    _c("PK", "Pakistan", "Asia/Karachi", [("Karachi", "Sindh", 24.86, 67.01)], "39.45 119.160", "+92"),
    _c("UA", "Ukraine", "Europe/Kyiv", [("Kyiv", "Kyiv", 50.45, 30.52)], "93.72 176.36", "+380"),
]}

#: Where a company's offices may be, with their relative sizes.
OFFICE_COUNTRIES = ("GB", "US", "US-C", "US-W", "DE", "FR", "IE", "NL", "IN", "AU", "CA", "ES", "JP", "SG", "ZA",
                    "PL", "SE", "BR", "MX")

#: Where people travel for work (conferences, customers).
TRAVEL_COUNTRIES = ("US", "US-W", "DE", "ES", "SG", "AE", "JP", "GB", "NL", "FR", "CA")

#: Where attackers sign in from; hosting countries make an attacker look local.
ATTACKER_COUNTRIES = ("NG", "RU", "CN", "VN", "RO", "ID", "PK", "BR", "UA")


@dataclass(frozen=True)
class Hosting:
    """A hosting network an attacker or a cloud app sends from."""

    name: str
    country: str
    prefixes: tuple[str, ...]


HOSTING = (
    Hosting("VPS provider (US)", "US", ("45.33", "104.248", "198.211")),
    Hosting("VPS provider (NL)", "NL", ("185.107", "89.248")),
    Hosting("VPS provider (DE)", "DE", ("5.9", "88.198")),
    Hosting("Tor exit", "DE", ("185.220",)),
    Hosting("Residential proxy (GB)", "GB", ("86.31", "92.40")),
    Hosting("Residential proxy (US)", "US", ("68.45", "174.52")),
)

CLOUD_APP_NETWORKS = (("20", "AzureCloud"), ("40", "AzureCloud"), ("52", "AzureCloud"), ("34", "GCP"), ("3", "AWS"))


# --- people ---------------------------------------------------------------------------------------------------

FIRST_NAMES = (
    "Aaliyah", "Aaron", "Abdul", "Ada", "Adele", "Adrian", "Ahmed", "Aiko", "Aisha", "Alan", "Alba", "Alejandro",
    "Alex", "Alice", "Amara", "Amelia", "Amir", "Ana", "Anders", "Andrea", "Andrei", "Aneta", "Angela", "Anika",
    "Anna", "Ana-Maria", "Anton", "Arjun", "Astrid", "Ayesha", "Beatriz", "Ben", "Benedikt", "Bianca", "Bilal",
    "Bjorn", "Bongani", "Bruno", "Camille", "Carlos", "Carmen", "Caroline", "Chen", "Chiara", "Chloe", "Chris",
    "Claire", "Conor", "Daan", "Daniel", "Darius", "David", "Deepa", "Diego", "Dimitri", "Elena", "Eliza", "Emeka",
    "Emil", "Emma", "Eric", "Erin", "Esther", "Ethan", "Fatima", "Felix", "Fiona", "Francesca", "Freya", "Gabriel",
    "Grace", "Hannah", "Hans", "Harper", "Hassan", "Helena", "Hiroshi", "Hugo", "Ibrahim", "Ines", "Ingrid",
    "Isaac", "Isabel", "Ivan", "Jack", "Jakub", "James", "Jana", "Javier", "Jaya", "Jia", "Joana", "Johan", "John",
    "Jonas", "Jorge", "Jose", "Julia", "Julian", "Kai", "Karan", "Karin", "Kate", "Kenji", "Kevin", "Kiara",
    "Klaus", "Lars", "Laura", "Lea", "Leon", "Liam", "Lina", "Lucas", "Lucia", "Luis", "Maja", "Malik", "Marco",
    "Maria", "Marie", "Mark", "Marta", "Mateo", "Maya", "Mei", "Mia", "Michael", "Miguel", "Mila", "Mohammed",
    "Nadia", "Naledi", "Nathan", "Nia", "Nikhil", "Nina", "Noah", "Nora", "Olga", "Oliver", "Olivia", "Omar",
    "Oscar", "Pablo", "Paolo", "Patrick", "Paula", "Pedro", "Pierre", "Priya", "Rahul", "Rania", "Raphael",
    "Rebecca", "Ricardo", "Rosa", "Ruby", "Ryan", "Sakura", "Samuel", "Sara", "Sean", "Sebastian", "Sergei",
    "Shreya", "Siobhan", "Sofia", "Sophie", "Stefan", "Sunil", "Tariq", "Thabo", "Theo", "Thomas", "Tomas",
    "Valentina", "Vera", "Victor", "Wei", "William", "Yara", "Yusuf", "Zara", "Zoe",
)

LAST_NAMES = (
    "Abbott", "Adeyemi", "Ahmed", "Alvarez", "Andersson", "Bailey", "Banerjee", "Bauer", "Becker", "Bennett",
    "Berg", "Bianchi", "Brown", "Campbell", "Carter", "Chan", "Chen", "Clarke", "Costa", "Cruz", "Dasgupta",
    "Davies", "Diaz", "Dubois", "Dupont", "Edwards", "Eriksson", "Evans", "Fernandes", "Fischer", "Fitzgerald",
    "Fontaine", "Garcia", "Gomez", "Gonzalez", "Green", "Gupta", "Hall", "Hansen", "Harris", "Hoffmann", "Hughes",
    "Ibrahim", "Ivanova", "Jackson", "Jansen", "Jensen", "Johansson", "Johnson", "Jones", "Kaur", "Keller", "Kelly",
    "Khan", "Kim", "Kowalski", "Kruger", "Kumar", "Larsen", "Laurent", "Lee", "Lewis", "Lindqvist", "Lopez",
    "Martin", "Martinez", "Mehta", "Meyer", "Miller", "Mohammed", "Moreau", "Morris", "Muller", "Murphy",
    "Nakamura", "Nguyen", "Nielsen", "Novak", "Okafor", "Okonkwo", "Olsen", "Ortiz", "Park", "Patel", "Perez",
    "Petrov", "Phillips", "Pires", "Quinn", "Ramirez", "Reddy", "Reyes", "Richter", "Roberts", "Robinson",
    "Rodriguez", "Rossi", "Ryan", "Sanchez", "Santos", "Sato", "Schmidt", "Schneider", "Shah", "Silva", "Singh",
    "Smith", "Sousa", "Stewart", "Suzuki", "Svensson", "Tanaka", "Taylor", "Thomas", "Thompson", "Torres", "Turner",
    "Van-Dijk", "Vargas", "Walker", "Wang", "Weber", "Williams", "Wilson", "Wong", "Wright", "Yamamoto", "Young",
    "Zhang", "Zimmermann",
)

#: O'Brien-style names keep OData quoting honest.
APOSTROPHE_NAMES = ("O'Brien", "O'Connor", "D'Souza", "O'Neill")


@dataclass(frozen=True)
class Department:
    name: str
    share: float  # of people
    titles: tuple[str, ...]
    profile: str  # the mail profile in PROFILES
    partner_kinds: tuple[str, ...]  # which external domains its people write to


DEPARTMENTS = (
    Department("Sales", 0.17, ("Account Executive", "Sales Manager", "Sales Development Rep", "Key Account Manager"),
               "sales", ("customer", "distributor")),
    Department("Marketing", 0.07, ("Marketing Manager", "Content Strategist", "Campaign Specialist",
                                   "Communications Lead"), "marketing", ("agency", "media", "customer")),
    Department("Finance", 0.08, ("Accountant", "Financial Analyst", "Accounts Payable Clerk", "Controller"),
               "finance", ("bank", "supplier", "audit")),
    Department("Human Resources", 0.04, ("HR Business Partner", "Recruiter", "Payroll Specialist"), "staff",
               ("recruiting", "benefits")),
    Department("Engineering", 0.20, ("Software Engineer", "Engineering Manager", "QA Engineer", "Architect"),
               "staff", ("supplier", "customer")),
    Department("Operations", 0.15, ("Operations Coordinator", "Logistics Planner", "Procurement Officer",
                                    "Operations Manager"), "staff", ("supplier", "distributor")),
    Department("Customer Support", 0.12, ("Support Engineer", "Customer Success Manager", "Support Lead"),
               "support", ("customer",)),
    Department("Legal", 0.03, ("Legal Counsel", "Paralegal", "Compliance Officer"), "legal", ("law", "audit")),
    Department("IT", 0.04, ("IT Administrator", "Service Desk Analyst", "Security Analyst", "Systems Engineer"),
               "staff", ("supplier",)),
    Department("Executive", 0.02, ("Chief Executive Officer", "Chief Financial Officer", "Chief Operating Officer",
                                   "Vice President", "Executive Assistant"), "executive",
               ("bank", "customer", "law", "media")),
    Department("Facilities", 0.02, ("Facilities Manager", "Office Coordinator"), "staff", ("supplier",)),
)


@dataclass(frozen=True)
class Profile:
    """How much and to whom a kind of person mails (per active working day)."""

    sends: float  # new messages sent
    external_share: float  # of recipients
    extra_recipients: float  # Poisson mean of recipients beyond the first
    inbound: float  # external messages received
    weekend: float  # chance of mailing on a weekend day
    evening: float  # share of mail outside the working day


PROFILES = {
    "staff": Profile(1.35, 0.15, 0.45, 0.75, 0.04, 0.05),
    "sales": Profile(2.40, 0.55, 0.30, 1.95, 0.12, 0.10),
    "marketing": Profile(1.80, 0.40, 0.60, 1.50, 0.08, 0.07),
    "finance": Profile(1.50, 0.30, 0.40, 1.20, 0.04, 0.05),
    "support": Profile(2.10, 0.60, 0.20, 1.65, 0.10, 0.06),
    "legal": Profile(1.35, 0.35, 0.50, 1.05, 0.05, 0.06),
    "executive": Profile(2.10, 0.30, 0.80, 2.25, 0.30, 0.18),
}

#: Partner domain words: "<prefix><suffix>.example", by kind of partner.
PARTNER_PREFIXES = (
    "alpine", "apex", "arbor", "atlas", "aurora", "beacon", "birch", "bluewater", "bright", "cedar", "cobalt",
    "coral", "crest", "delta", "ember", "evergreen", "falcon", "fern", "granite", "harbor", "heron", "horizon",
    "iris", "juniper", "keystone", "lakeside", "lumen", "maple", "meridian", "northgate", "oak", "onyx", "orchard",
    "pacific", "pine", "pinnacle", "prairie", "quartz", "redwood", "ridge", "riverside", "sable", "sage",
    "silverline", "skyline", "solstice", "spruce", "sterling", "summit", "sycamore", "tidewater", "timber",
    "trident", "union", "vantage", "verde", "willow", "zenith",
)

PARTNER_SUFFIXES: dict[str, tuple[str, ...]] = {
    "customer": ("retail", "foods", "motors", "health", "energy", "hotels", "clinic", "manufacturing", "group"),
    "distributor": ("distribution", "wholesale", "trading", "supply"),
    "supplier": ("components", "logistics", "systems", "packaging", "industrial", "software"),
    "agency": ("creative", "digital", "studio"),
    "media": ("media", "news", "press"),
    "bank": ("bank", "capital", "credit"),
    "audit": ("audit", "advisory", "accountants"),
    "law": ("legal", "law", "partners-llp"),
    "recruiting": ("talent", "recruitment", "careers"),
    "benefits": ("benefits", "insurance", "pensions"),
}

#: Consumer mailbox providers (customers writing to support, spam lists, attacker drop boxes).
CONSUMER_DOMAINS = ("freemail.example", "mailbox.example", "webpost.example", "inbox-mail.example",
                    "netmail.example", "postbox.example", "quickmail.example", "homemail.example")

#: Bulk senders whose newsletters people receive (inbound, sometimes filtered as spam).
BULK_SENDERS = ("news@industry-digest.example", "noreply@events-hub.example", "offers@software-deals.example",
                "newsletter@tradejournal.example", "updates@cloudvendor.example", "no-reply@webinar-platform.example")

# --- subjects ---------------------------------------------------------------------------------------------------

INTERNAL_SUBJECTS = (
    "Weekly sync notes", "Quick question", "Agenda for tomorrow", "Updated slides", "Project status",
    "Follow-up from today's meeting", "Budget review", "Draft for your comments", "Team lunch on Friday",
    "Handover notes", "Can you review this?", "Q4 planning", "Action items", "Timesheet reminder",
    "Holiday cover", "New starter next week", "Access request", "Travel approval", "Training schedule",
    "Minutes: steering committee", "Roadmap update", "Invoice approval needed", "Office move", "Shared drive links",
)

EXTERNAL_SUBJECTS: dict[str, tuple[str, ...]] = {
    "sales": ("Proposal for {n}", "Quote {n}", "Following up on our call", "Pricing for next year",
              "Contract renewal", "Demo next week?", "Order confirmation {n}", "Introductions"),
    "marketing": ("Campaign assets", "Press release draft", "Event logistics", "Sponsorship package",
                  "Artwork proofs", "Media plan"),
    "finance": ("Remittance advice {n}", "Invoice {n}", "Statement of account", "Payment run confirmation",
                "Audit request list", "Purchase order {n}"),
    "support": ("Re: Case {n}", "Your support request {n}", "Case {n} resolved", "Troubleshooting steps"),
    "legal": ("NDA for review", "Contract markup", "Engagement letter", "Compliance questionnaire"),
    "executive": ("Board pack", "Meeting request", "Investor update", "Quarterly review", "Introductions"),
    "staff": ("Delivery schedule", "Meeting request", "Specification attached", "Purchase order {n}",
              "Service ticket {n}", "Documents as requested"),
}

INBOUND_SUBJECTS = ("Your order {n}", "Invoice {n}", "Meeting request", "Question about your product",
                    "Delivery update", "Following up", "Documents attached", "Payment received", "Introductions",
                    "Request for quotation", "Newsletter", "Webinar invitation", "Statement {n}")

SPAM_SUBJECTS = (
    "Invoice overdue - action required", "Payment confirmation #{n}", "Your parcel is waiting",
    "Re: outstanding balance", "Shared document: Remittance_{n}.pdf", "Urgent: wire transfer details",
    "Account verification needed", "You have a new voice message", "Congratulations! Claim your reward",
    "DocuSign: please review and sign", "Updated bank details for payment", "Low-interest business loan approved",
    "Re: order {n}", "Secure message from your bank",
)

PHISH_SUBJECTS = (
    "Action required: password expires today", "Q4 bonus and salary review", "Updated HR policy - please sign",
    "Shared with you: {org} benefits 2027.xlsx", "IT notice: mailbox storage full",
    "Payroll correction for this month", "Teams: you have 3 missed messages", "Please review the attached invoice",
)

NEWSLETTER_SUBJECTS = ("{org} news - {month} edition", "{org} product update: what's new in {month}",
                       "Your {month} newsletter from {org}", "Invitation: {org} customer day")

MERGE_SUBJECTS = ("Your renewal quote, {first}", "{first}, your account review is ready", "Invoice {n} for {first}",
                  "Thanks for visiting us, {first}", "{first}: your personalised offer")

FOLLOWUP_SUBJECTS = ("Great meeting you at {event}", "Following up from {event}", "{event}: next steps",
                     "Nice to meet you, {first}")

EVENTS = ("Web Summit", "the Expo", "the industry summit", "the trade fair", "the partner conference")

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")

# --- apps and clients -------------------------------------------------------------------------------------------

EXCHANGE_APP = ("00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online")
GRAPH_APP = ("00000003-0000-0000-c000-000000000000", "Microsoft Graph")


@dataclass(frozen=True)
class SignInApp:
    app_id: str
    name: str
    client: str  # clientAppUsed
    resource_id: str
    resource: str
    mobile: bool = False


SIGNIN_APPS = (
    SignInApp("00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online", "Browser", *EXCHANGE_APP),
    SignInApp("9199bf20-a13f-4107-85dc-02114787ef48", "One Outlook Web", "Browser", *EXCHANGE_APP),
    SignInApp("4765445b-32c6-49b0-83e6-1d93765276ca", "OfficeHome", "Browser", *GRAPH_APP),
    SignInApp("d3590ed6-52b3-4102-aeff-aad2292ab01c", "Microsoft Office", "Mobile Apps and Desktop clients",
              *EXCHANGE_APP),
    SignInApp("1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams", "Mobile Apps and Desktop clients",
              "cc15fd57-2c6c-4117-a88c-83b1d56b4bbe", "Microsoft Teams Services"),
    SignInApp("27922004-5251-4030-b22d-91ecd9a37ea4", "Outlook Mobile", "Mobile Apps and Desktop clients",
              *EXCHANGE_APP, mobile=True),
)
#: Relative frequency of each app among people's interactive sign-ins.
SIGNIN_APP_WEIGHTS = (0.10, 0.22, 0.18, 0.25, 0.12, 0.13)

LEGACY_SMTP = SignInApp("00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online", "Authenticated SMTP",
                        *EXCHANGE_APP)
LEGACY_IMAP = SignInApp("00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online", "IMAP4", *EXCHANGE_APP)
MY_SIGNINS = SignInApp("19db86c3-b2b9-44cc-b339-36da233a3be2", "My Signins", "Browser", *GRAPH_APP)

DESKTOP_OS = ("Windows 10", "Windows 11", "Windows 11", "MacOs")
BROWSERS = {"Windows 10": ("Edge 130.0.0", "Chrome 131.0.0"), "Windows 11": ("Edge 131.0.0", "Chrome 131.0.0"),
            "MacOs": ("Safari 18.1", "Chrome 131.0.0")}
MOBILE_OS = ("iOS 18.1", "iOS 17.6", "Android 15", "Android 14")
RICH_CLIENT = "Rich Client 4.66.0.0"

#: Sign-in failures people make, with Entra's texts.
SIGNIN_FAILURES = {
    50126: "Error validating credentials due to invalid username or password.",
    50074: "Strong Authentication is required.",
    50140: "This error occurred due to 'Keep me signed in' interrupt when the user was signing in.",
    50053: "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
    50057: "User account is disabled. The account has been disabled by an administrator.",
}

# --- OAuth apps -----------------------------------------------------------------------------------------------

#: Consented everywhere (AllPrincipals), benign.
TENANT_WIDE_APPS = (("Zoom", "openid profile email User.Read"), ("Adobe Acrobat", "openid profile User.Read"),
                    ("Miro", "openid profile User.Read"))
#: Consented by single users, benign, some with Mail.Send.
USER_APPS = (("HubSpot Sales", "Mail.Send Mail.ReadWrite Contacts.Read offline_access User.Read"),
             ("Calendly", "Calendars.ReadWrite offline_access User.Read"),
             ("Grammarly", "Mail.Read offline_access User.Read"),
             ("Mail Merge for Outlook", "Mail.Send Mail.ReadWrite offline_access User.Read"))
#: What a consent-phishing app calls itself.
ROGUE_APPS = ("PDF Mail Helper", "Secure Doc Viewer", "Mail Sync Pro", "Office Invoice Reader", "DocuSlgn Connect",
              "Outlook Storage Manager", "eFax Online Viewer")
ROGUE_SCOPES = ("Mail.Send", "Mail.ReadWrite", "offline_access", "User.Read", "Contacts.Read",
                "MailboxSettings.ReadWrite")

# --- names attackers give things ------------------------------------------------------------------------------

PUNCTUATION_RULE_NAMES = (".", "..", "...", ",", ";", "'", "-", ".;", "..,", "_")
HIDING_FOLDERS = {"RSS Feeds": "AAMkRSSFeeds", "Conversation History": "AAMkConversationHistory",
                  "Archive": "AAMkArchive", "Deleted Items": "AAMkDeletedItems"}
HIDING_WORDS = ("invoice", "payment", "hacked", "spam", "phish", "virus", "compromised", "undeliverable",
                "delivery", "suspicious", "wire", "bank", "password")
NDR_SENDER_WORDS = ("postmaster", "mailer-daemon", "microsoftexchange")

#: The system mailbox that sends non-delivery reports in Exchange Online.
SYSTEM_SENDER_LOCAL = "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e"

COMPANY_NAMES = ("Contoso", "Fabrikam", "Northwind Traders", "Tailspin Toys", "Woodgrove", "Litware", "Adatum",
                 "Proseware", "Wingtip Toys", "Alpine Ski House", "Coho Winery", "Fourth Coffee", "Trey Research",
                 "Lamna Healthcare", "Relecloud", "VanArsdel", "Wide World Importers", "Margie's Travel",
                 "Humongous Insurance", "Lucerne Publishing", "Blue Yonder Airlines", "City Power & Light")

#: Exchange Online server name prefixes by region, for Message-IDs.
SERVER_PREFIXES = {"eur": ("AM0PR01MB", "DB9PR02MB", "LO2P265MB", "PAXPR04MB", "VI1PR07MB"),
                   "nam": ("BN8PR12MB", "CH3PR11MB", "SJ0PR13MB", "MW4PR03MB", "DM6PR10MB"),
                   "apc": ("SY4PR01MB", "MA0PR01MB", "SG2PR06MB", "TYCPR01MB")}
REGION_OF = {"GB": "eur", "DE": "eur", "FR": "eur", "IE": "eur", "NL": "eur", "ES": "eur", "PL": "eur", "SE": "eur",
             "ZA": "eur", "US": "nam", "US-C": "nam", "US-W": "nam", "CA": "nam", "BR": "nam", "MX": "nam",
             "IN": "apc", "AU": "apc", "JP": "apc", "SG": "apc"}
