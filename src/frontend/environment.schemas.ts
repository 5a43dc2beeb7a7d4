import type { Instance } from '../instance/instance.schemas.js'
import { PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from '../users/passwords.js'
import { SIGN_IN_LIMITS } from '../accept/sign-in-throttle.js'
import { USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH } from '../users/usernames.js'

/** Where an instance's hosted pages and its application's pages are, as the Environment names them. */
export interface EnvironmentUrls {
  signIn: string
  signUp: string
  waitlist: string
  /** Foyer's own landing page, for an instance with no home or after-sign-up URL of its own. */
  welcome: string
}

const off = { enabled: false, required: false, used_for_first_factor: false, first_factors: [], used_for_second_factor: false, second_factors: [], verifications: [], verify_at_sign_up: false, immutable: false }
const on = (required: boolean) => ({ ...off, enabled: true, required })

/**
 * Clerk's Environment (`GET /v1/environment`): what clerk-js learns of the instance when it
 * loads. The reference spec's object is strict, so every setting it requires is sent, and
 * every feature Foyer lacks is said to be off: social and enterprise sign-in, phone numbers,
 * Web3 wallets, passkeys, second factors, captcha, billing, API keys. What Foyer has: an
 * email address and a password, names, a username where the instance enables it, sign-up
 * with a ticket (or an emailed code in public mode), one session per browser, and
 * organizations with verified domains. `lists` says whether the allowlist and the blocklist
 * are in force (Clerk's `restrictions`).
 */
export function toFapiEnvironment(instance: Instance, urls: EnvironmentUrls, lists = { allowlist: false, blocklist: false }) {
  const suffix = instance.id.slice(instance.id.indexOf('_') + 1)
  const home = instance.homeUrl ?? urls.welcome
  const username = instance.username
  return {
    auth_config: {
      object: 'auth_config',
      id: `aac_${suffix}`,
      first_name: 'on',
      last_name: 'on',
      email_address: 'required',
      phone_number: 'off',
      username: username.required ? 'required' : username.enabled ? 'on' : 'off',
      password: 'required',
      identification_requirements: [['email_address']],
      identification_strategies: username.enabled ? ['email_address', 'username'] : ['email_address'],
      first_factors: ['password', 'ticket'],
      second_factors: [],
      email_address_verification_strategies: ['email_code'],
      // A Foyer browser holds one session: signing in again means signing out first.
      single_session_mode: true,
      enhanced_email_deliverability: false,
      test_mode: false,
      url_based_session_syncing: false,
      claimed_at: null,
      reverification: false,
      native_settings: {
        object: 'native_settings', api_enabled: false, trusted_device_sign_in_enabled: false,
        trusted_device_enrollment_prompt_after_sign_in_enabled: false, trusted_device_enrollment_prompt_after_sign_up_enabled: false,
      },
    },
    display_config: {
      object: 'display_config',
      id: `display_config_${suffix}`,
      instance_environment_type: instance.environmentType,
      application_name: instance.name,
      theme: {},
      preferred_sign_in_strategy: 'password',
      logo_image_url: null,
      favicon_image_url: null,
      home_url: home,
      sign_in_url: urls.signIn,
      sign_up_url: urls.signUp,
      // Foyer has no account portal: no profile or organization pages, no OAuth consent screen.
      user_profile_url: '',
      waitlist_url: urls.waitlist,
      oauth_consent_url: '',
      after_sign_in_url: home,
      after_sign_up_url: instance.afterSignUpUrl ?? urls.welcome,
      after_sign_out_one_url: urls.signIn,
      after_sign_out_all_url: urls.signIn,
      after_switch_session_url: home,
      after_join_waitlist_url: home,
      organization_profile_url: '',
      create_organization_url: '',
      after_leave_organization_url: home,
      after_create_organization_url: home,
      logo_link_url: home,
      support_email: null,
      branded: false,
      experimental_force_oauth_first: false,
      // clerk-js is the application's own (from npm or its page): Foyer names no version to load.
      clerk_js_version: null,
      show_devmode_warning: false,
      google_one_tap_client_id: null,
      help_url: null,
      privacy_policy_url: null,
      terms_url: null,
      logo_url: null,
      favicon_url: null,
      logo_image: null,
      favicon_image: null,
      // No captcha: with no keys clerk-js sends no challenge.
      captcha_public_key: null,
      captcha_widget_type: null,
      captcha_public_key_invisible: null,
      captcha_provider: null,
      captcha_oauth_bypass: [],
      captcha_heartbeat: false,
    },
    user_settings: {
      // clerk-js replaces its whole default map with this one: every attribute is named.
      attributes: {
        email_address: { ...on(true), used_for_first_factor: true, verifications: ['email_code'], verify_at_sign_up: true },
        phone_number: off,
        // A username is an identifier to sign in with, beside the email address.
        username: username.enabled ? { ...on(username.required), used_for_first_factor: true } : off,
        web3_wallet: off,
        first_name: on(false),
        last_name: on(false),
        password: on(true),
        authenticator_app: off,
        ticket: on(false),
        backup_code: off,
        passkey: off,
      },
      social: {},
      saml: { enabled: false },
      enterprise_sso: { enabled: false },
      sign_in: { second_factor: { required: false } },
      sign_up: {
        captcha_enabled: false,
        captcha_widget_type: 'smart',
        custom_action_required: false,
        progressive: true,
        // Invitation-only instances are Clerk's restricted mode; waitlist is the waitlist.
        mode: instance.signUpMode,
        legal_consent_enabled: false,
      },
      restrictions: {
        allowlist: { enabled: lists.allowlist },
        blocklist: { enabled: lists.blocklist },
        allowlist_blocklist_disabled_on_sign_in: { enabled: false },
        block_email_subaddresses: { enabled: false },
        block_disposable_email_domains: { enabled: false },
      },
      password_settings: {
        disable_hibp: true,
        disable_password_reverification: true,
        min_length: PASSWORD_MIN_LENGTH,
        max_length: PASSWORD_MAX_LENGTH,
        require_special_char: false,
        require_numbers: false,
        require_uppercase: false,
        require_lowercase: false,
        show_zxcvbn: false,
        min_zxcvbn_strength: 0,
        enforce_hibp_on_sign_in: false,
        allowed_special_characters: '',
      },
      username_settings: {
        min_length: username.enabled ? USERNAME_MIN_LENGTH : null, max_length: username.enabled ? USERNAME_MAX_LENGTH : null,
        allow_extended_special_characters: false, allow_numeric_usernames: false,
      },
      actions: { delete_self: false, create_organization: false, create_organizations_limit: null },
      attack_protection: {
        // Foyer's sign-in throttle: this many failures per account in this many minutes.
        user_lockout: { enabled: true, max_attempts: SIGN_IN_LIMITS.perAccount, duration_in_minutes: SIGN_IN_LIMITS.windowMs / 60_000 },
        pii: { enabled: false },
        email_link: { require_same_client: false },
        enumeration_protection: { enabled: false },
      },
      passkey_settings: { allow_autofill: false, show_sign_in_button: false, satisfies_second_factor: false },
    },
    organization_settings: {
      enabled: true,
      // Each organization has its own limit (max_allowed_memberships, 0 for none).
      max_allowed_memberships: 0,
      actions: { admin_delete: true },
      domains: { enabled: true, enrollment_modes: ['manual_invitation', 'automatic_invitation', 'automatic_suggestion'], default_role: 'org:member' },
      slug: { disabled: false },
      creator_role: 'org:admin',
    },
    fraud_settings: { object: 'fraud_settings', native: { device_attestation_mode: 'disabled' } },
    api_keys_settings: { enabled: false, user_api_keys_enabled: false, orgs_api_keys_enabled: false },
    client_debug_mode: false,
    partitioned_cookies: false,
    maintenance_mode: false,
  }
}
