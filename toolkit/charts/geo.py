"""Country centroids for sign-ins that carry a country but no coordinates.

Entra writes ``location.countryOrRegion`` as an ISO 3166-1 alpha-2 code. The table holds an approximate centre
(latitude, longitude, one decimal) and the English short name of the countries sign-ins come from most often; an
unknown code is logged once per call and its sign-ins are left off the map (they stay in the timeline).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

#: ISO-2 code -> (name, latitude, longitude)
CENTROIDS: dict[str, tuple[str, float, float]] = {
    "AE": ("United Arab Emirates", 23.9, 54.3), "AR": ("Argentina", -35.4, -65.2), "AT": ("Austria", 47.6, 14.1),
    "AU": ("Australia", -25.7, 134.5), "BD": ("Bangladesh", 23.8, 90.3), "BE": ("Belgium", 50.6, 4.7),
    "BG": ("Bulgaria", 42.8, 25.2), "BR": ("Brazil", -10.8, -52.9), "BY": ("Belarus", 53.5, 28.0),
    "CA": ("Canada", 61.4, -98.3), "CH": ("Switzerland", 46.8, 8.2), "CL": ("Chile", -37.7, -71.4),
    "CN": ("China", 36.6, 103.8), "CO": ("Colombia", 3.9, -73.1), "CR": ("Costa Rica", 9.9, -84.2),
    "CY": ("Cyprus", 35.0, 33.2), "CZ": ("Czechia", 49.7, 15.3), "DE": ("Germany", 51.1, 10.4),
    "DK": ("Denmark", 56.0, 9.3), "DO": ("Dominican Republic", 18.9, -70.5), "DZ": ("Algeria", 28.2, 2.6),
    "EC": ("Ecuador", -1.4, -78.4), "EE": ("Estonia", 58.7, 25.5), "EG": ("Egypt", 26.5, 29.9),
    "ES": ("Spain", 40.2, -3.6), "FI": ("Finland", 64.5, 26.3), "FR": ("France", 46.6, 2.5),
    "GB": ("United Kingdom", 54.1, -2.9), "GH": ("Ghana", 7.9, -1.0), "GR": ("Greece", 39.1, 22.9),
    "GT": ("Guatemala", 15.7, -90.4), "HK": ("Hong Kong", 22.4, 114.1), "HR": ("Croatia", 45.1, 15.6),
    "HU": ("Hungary", 47.2, 19.4), "ID": ("Indonesia", -2.2, 117.3), "IE": ("Ireland", 53.2, -8.1),
    "IL": ("Israel", 31.4, 35.0), "IN": ("India", 22.9, 79.6), "IQ": ("Iraq", 33.0, 43.7),
    "IR": ("Iran", 32.6, 54.3), "IS": ("Iceland", 65.0, -18.6), "IT": ("Italy", 42.8, 12.1),
    "JM": ("Jamaica", 18.2, -77.3), "JO": ("Jordan", 31.2, 36.4), "JP": ("Japan", 37.5, 138.0),
    "KE": ("Kenya", 0.5, 37.8), "KR": ("South Korea", 36.4, 127.8), "KW": ("Kuwait", 29.3, 47.6),
    "KZ": ("Kazakhstan", 48.2, 67.3), "LB": ("Lebanon", 33.9, 35.9), "LK": ("Sri Lanka", 7.6, 80.7),
    "LT": ("Lithuania", 55.3, 23.9), "LU": ("Luxembourg", 49.8, 6.1), "LV": ("Latvia", 56.9, 24.9),
    "MA": ("Morocco", 31.8, -7.1), "MD": ("Moldova", 47.2, 28.5), "MT": ("Malta", 35.9, 14.4),
    "MX": ("Mexico", 23.9, -102.5), "MY": ("Malaysia", 3.8, 109.7), "NG": ("Nigeria", 9.6, 8.1),
    "NL": ("Netherlands", 52.3, 5.5), "NO": ("Norway", 61.4, 9.0), "NP": ("Nepal", 28.4, 84.1),
    "NZ": ("New Zealand", -41.8, 172.8), "OM": ("Oman", 20.6, 56.1), "PA": ("Panama", 8.5, -80.1),
    "PE": ("Peru", -9.2, -74.4), "PH": ("Philippines", 11.8, 122.9), "PK": ("Pakistan", 29.9, 69.3),
    "PL": ("Poland", 52.1, 19.4), "PR": ("Puerto Rico", 18.2, -66.5), "PT": ("Portugal", 39.6, -8.5),
    "QA": ("Qatar", 25.3, 51.2), "RO": ("Romania", 45.9, 25.0), "RS": ("Serbia", 44.2, 20.8),
    "RU": ("Russia", 61.5, 96.7), "SA": ("Saudi Arabia", 24.1, 44.5), "SE": ("Sweden", 62.8, 16.7),
    "SG": ("Singapore", 1.4, 103.8), "SI": ("Slovenia", 46.1, 14.8), "SK": ("Slovakia", 48.7, 19.5),
    "SN": ("Senegal", 14.4, -14.5), "TH": ("Thailand", 15.1, 101.0), "TN": ("Tunisia", 34.1, 9.6),
    "TR": ("Turkey", 39.1, 35.2), "TW": ("Taiwan", 23.8, 121.0), "TZ": ("Tanzania", -6.3, 34.8),
    "UA": ("Ukraine", 49.0, 31.4), "UG": ("Uganda", 1.3, 32.4), "US": ("United States", 39.8, -98.6),
    "UY": ("Uruguay", -32.8, -56.0), "UZ": ("Uzbekistan", 41.8, 63.1), "VE": ("Venezuela", 7.1, -66.2),
    "VN": ("Vietnam", 16.6, 106.3), "ZA": ("South Africa", -29.0, 25.1), "ZW": ("Zimbabwe", -19.0, 29.9),
}


_LAT = {code: entry[1] for code, entry in CENTROIDS.items()}
_LON = {code: entry[2] for code, entry in CENTROIDS.items()}


def country_name(code: object) -> str:
    """The country's short name, or the code itself when it is not in the table."""
    key = str(code).strip().upper()
    entry = CENTROIDS.get(key)
    return entry[0] if entry else key


def centroids(codes: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(latitude, longitude, known) per row for ISO-2 codes; unknown codes get NaN and are logged once."""
    upper = codes.astype(object).where(codes.notna(), "").astype(str).str.strip().str.upper()
    lat = upper.map(_LAT).to_numpy(dtype=float, na_value=np.nan)
    lon = upper.map(_LON).to_numpy(dtype=float, na_value=np.nan)
    known = ~np.isnan(lat)
    unknown_rows = ~known & (upper != "").to_numpy()
    if unknown_rows.any():
        _warn_unknown(sorted(set(upper[unknown_rows])), int(unknown_rows.sum()))
    return lat, lon, known


def _warn_unknown(codes: Iterable[str], rows: int) -> None:
    log.warning("sign-in map: no centroid for country code(s) %s; %d sign-in(s) without coordinates are left off "
                "the map", ", ".join(codes), rows)
