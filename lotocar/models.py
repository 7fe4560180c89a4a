"""Import every model so that SQLAlchemy's registry and Alembic see the whole schema."""
from lotocar.api.models import ApiToken
from lotocar.audit.models import AuditEntry
from lotocar.auth.models import PhoneCode, Role, User
from lotocar.bookings.models import Booking, BookingStatus, OfferDay
from lotocar.core.counters import ChangeCounter
from lotocar.communes.models import Commune, FormerCommune
from lotocar.contributions.models import BookingContribution, DriverContributionChoice, PassengerExemption
from lotocar.drivers.models import Driver
from lotocar.offers.models import Offer, OfferChange, OfferKind, OfferStatus
from lotocar.notifications.models import SmsInbound, SmsLink, SmsMessage, SmsOptOut, SmsStatus
from lotocar.passengers.models import Passenger
from lotocar.requests import changes as _request_changes  # noqa: F401  (the requests change counter)
from lotocar.requests.models import RequestMode, RequestReason, RequestStatus, TripRequest
from lotocar.rpc.models import JourneyStatus, RpcJourney
from lotocar.roads.models import RoadEdge, RoadGraph, RoadLeg, RoadPlace, RoadVertex

__all__ = [
    "ApiToken", "AuditEntry", "Booking", "BookingStatus", "OfferDay", "ChangeCounter", "Commune", "FormerCommune", "Driver", "Offer", "OfferChange", "OfferKind",
    "OfferStatus", "Passenger", "PhoneCode", "RequestMode", "RequestReason", "RequestStatus",
    "RoadEdge", "RoadGraph", "RoadLeg", "RoadPlace", "RoadVertex",
    "Role", "BookingContribution", "DriverContributionChoice", "PassengerExemption", "JourneyStatus",
    "RpcJourney", "SmsInbound", "SmsLink", "SmsMessage", "SmsOptOut", "SmsStatus", "TripRequest", "User",
]
